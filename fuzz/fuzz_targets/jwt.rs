#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| natrix::fuzz_checks::check_jwt(data));
