// placeholder until the parser bench lands
fn main() {}
