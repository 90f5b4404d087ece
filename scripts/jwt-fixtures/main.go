// Generates the operator/account/user JWTs and .creds files natrix's JWT tests use
// (tests/fixtures/jwt/), with the standard NATS libraries (nats-io/jwt/v2, nats-io/nkeys),
// so the tokens are exactly what nsc and nats-server produce and accept.
//
// Run through scripts/gen-jwt-fixtures.sh; tests never need Go.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

var out string

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func write(name string, data []byte) {
	if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
		panic(err)
	}
}

func pub(kp nkeys.KeyPair) string { return must(kp.PublicKey()) }

// user issues a user JWT for a fresh user key, signed by signer, and writes <name>.creds.
func user(name string, signer nkeys.KeyPair, issuerAccount string, edit func(*jwt.UserClaims)) string {
	ukp := must(nkeys.CreateUser())
	uc := jwt.NewUserClaims(pub(ukp))
	uc.Name = name
	uc.IssuerAccount = issuerAccount
	if edit != nil {
		edit(uc)
	}
	token := must(uc.Encode(signer))
	seed := must(ukp.Seed())
	write(name+".creds", must(jwt.FormatUserConfig(token, seed)))
	return pub(ukp)
}

func main() {
	out = os.Args[1]
	ids := map[string]string{}

	// Trusted operator with a signing key; an untrusted second operator.
	op := must(nkeys.CreateOperator())
	opSK := must(nkeys.CreateOperator())
	badOp := must(nkeys.CreateOperator())

	sys := must(nkeys.CreateAccount())
	teamA := must(nkeys.CreateAccount())
	teamASK := must(nkeys.CreateAccount())     // plain signing key of TEAM_A
	teamAScoped := must(nkeys.CreateAccount()) // scoped signing key of TEAM_A
	teamB := must(nkeys.CreateAccount())
	untrustedAcc := must(nkeys.CreateAccount()) // never given to the server

	oc := jwt.NewOperatorClaims(pub(op))
	oc.Name = "OP"
	oc.SigningKeys.Add(pub(opSK))
	oc.SystemAccount = pub(sys)
	write("op.jwt", []byte(must(oc.Encode(op))))

	// Users of TEAM_A (issued first: TEAM_A's revocations name one of them).
	ids["alice"] = user("alice", teamA, "", nil)
	ids["expired"] = user("expired", teamA, "", func(uc *jwt.UserClaims) {
		uc.Expires = time.Now().Add(-time.Hour).Unix()
	})
	ids["not_yet_valid"] = user("not_yet_valid", teamA, "", func(uc *jwt.UserClaims) {
		uc.NotBefore = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	})
	ids["revoked"] = user("revoked", teamA, "", nil)
	ids["signer"] = user("signer", teamASK, pub(teamA), nil)
	ids["no_issuer_account"] = user("no_issuer_account", teamASK, "", nil)
	ids["wrong_issuer_account"] = user("wrong_issuer_account", teamASK, pub(teamB), nil)
	ids["scoped"] = user("scoped", teamAScoped, pub(teamA), func(uc *jwt.UserClaims) {
		uc.SetScoped(true) // no permissions or limits of its own: the scope's template applies
	})
	ids["bearer"] = user("bearer", teamA, "", func(uc *jwt.UserClaims) {
		uc.BearerToken = true
	})
	ids["limited"] = user("limited", teamA, "", func(uc *jwt.UserClaims) {
		uc.Pub.Allow.Add("ok.>")
		uc.Pub.Deny.Add("ok.secret")
		uc.Sub.Allow.Add("ok.>", "_INBOX.>")
	})
	ids["untrusted"] = user("untrusted", untrustedAcc, "", nil)
	ids["responder"] = user("responder", teamA, "", func(uc *jwt.UserClaims) {
		uc.Sub.Allow.Add("svc.>")
		uc.Resp = &jwt.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}
	})
	ids["local_src"] = user("local_src", teamA, "", func(uc *jwt.UserClaims) {
		uc.Src.Set("127.0.0.0/8,::1/128")
	})
	ids["wrong_src"] = user("wrong_src", teamA, "", func(uc *jwt.UserClaims) {
		uc.Src.Set("10.0.0.0/8")
	})
	ids["websocket_only"] = user("websocket_only", teamA, "", func(uc *jwt.UserClaims) {
		uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeWebsocket)
	})

	ac := jwt.NewAccountClaims(pub(teamA))
	ac.Name = "TEAM_A"
	ac.SigningKeys.Add(pub(teamASK))
	scope := jwt.NewUserScope()
	scope.Key = pub(teamAScoped)
	scope.Role = "scoped"
	scope.Template.Pub.Allow.Add("scoped.>")
	scope.Template.Sub.Allow.Add("scoped.>", "_INBOX.>")
	ac.SigningKeys.AddScopedSigner(scope)
	ac.Limits.Conn = 100
	ac.Limits.Subs = 1000
	ac.Limits.Payload = 1 << 20
	ac.Limits.Data = -1
	ac.Limits.LeafNodeConn = -1
	ac.Limits.Imports = -1
	ac.Limits.Exports = -1
	ac.Limits.WildcardExports = true
	ac.Limits.MemoryStorage = 1 << 20
	ac.Limits.DiskStorage = 10 << 20
	ac.Limits.Streams = 5
	ac.Limits.Consumer = 10
	ac.Exports.Add(&jwt.Export{Name: "time", Subject: "svc.time", Type: jwt.Service})
	ac.Exports.Add(&jwt.Export{Name: "public", Subject: "public.>", Type: jwt.Stream})
	ac.Exports.Add(&jwt.Export{Name: "feed", Subject: "feed.>", Type: jwt.Stream})
	// Private exports: importers need an activation token TEAM_A signed. TEAM_B holds a
	// good one for private.> (signed by TEAM_A) and svc.private (signed by TEAM_A's signing
	// key), and a bad one for each of the others: expired, revoked. (A token another account
	// signed, or issued for another subject, makes nats-server refuse the whole account JWT.)
	for _, subj := range []string{"private.>", "expired.>", "revoked.>"} {
		ac.Exports.Add(&jwt.Export{Subject: jwt.Subject(subj), Type: jwt.Stream, TokenReq: true})
	}
	ac.Exports.Add(&jwt.Export{Subject: "svc.private", Type: jwt.Service, TokenReq: true})
	// Issued a second ago at the latest: iat <= now, so the user is revoked.
	ac.RevokeAt(ids["revoked"], time.Now().Add(time.Second))
	for _, e := range ac.Exports {
		if e.Subject == "revoked.>" {
			e.RevokeAt(pub(teamB), time.Now().Add(time.Second))
		}
	}
	teamAJWT := must(ac.Encode(op))

	bc := jwt.NewAccountClaims(pub(teamB))
	bc.Name = "TEAM_B"
	bc.Imports.Add(&jwt.Import{Name: "time", Subject: "svc.time", Account: pub(teamA), Type: jwt.Service})
	bc.Imports.Add(&jwt.Import{Name: "public", Subject: "public.>", Account: pub(teamA), Type: jwt.Stream})
	// A stream import mapped to a local subject (nats-server 2.10+).
	bc.Imports.Add(&jwt.Import{Name: "feed", Subject: "feed.*", LocalSubject: "myfeed.*", Account: pub(teamA), Type: jwt.Stream})
	activation := func(subj string, typ jwt.ExportType, signer nkeys.KeyPair, edit func(*jwt.ActivationClaims)) string {
		act := jwt.NewActivationClaims(pub(teamB))
		act.ImportSubject = jwt.Subject(subj)
		act.ImportType = typ
		if edit != nil {
			edit(act)
		}
		return must(act.Encode(signer))
	}
	streamImport := func(subj, token string) {
		bc.Imports.Add(&jwt.Import{Subject: jwt.Subject(subj), Account: pub(teamA), Type: jwt.Stream, Token: token})
	}
	streamImport("private.>", activation("private.>", jwt.Stream, teamA, nil))
	streamImport("expired.>", activation("expired.>", jwt.Stream, teamA, func(a *jwt.ActivationClaims) {
		a.Expires = time.Now().Add(-time.Hour).Unix()
	}))
	streamImport("revoked.>", activation("revoked.>", jwt.Stream, teamA, nil))
	bc.Imports.Add(&jwt.Import{Subject: "svc.private", Account: pub(teamA), Type: jwt.Service,
		Token: activation("svc.private", jwt.Service, teamASK, func(a *jwt.ActivationClaims) {
			a.IssuerAccount = pub(teamA)
		})})
	teamBJWT := must(bc.Encode(opSK)) // signed by the operator's signing key
	ids["bob"] = user("bob", teamB, "", nil)

	// TEAM_C refuses bearer tokens.
	teamC := must(nkeys.CreateAccount())
	cc := jwt.NewAccountClaims(pub(teamC))
	cc.Name = "TEAM_C"
	cc.Limits.DisallowBearer = true
	teamCJWT := must(cc.Encode(op))
	ids["bearer_disallowed"] = user("bearer_disallowed", teamC, "", func(uc *jwt.UserClaims) {
		uc.BearerToken = true
	})
	ids["team_c"] = pub(teamC)

	// TEAM_D: JetStream with small limits (storage, streams, consumers per stream, ack pending).
	teamD := must(nkeys.CreateAccount())
	dc := jwt.NewAccountClaims(pub(teamD))
	dc.Name = "TEAM_D"
	dc.Limits.MemoryStorage = 4096
	dc.Limits.DiskStorage = 4096
	dc.Limits.Streams = 2
	dc.Limits.Consumer = 2
	dc.Limits.MaxAckPending = 10
	teamDJWT := must(dc.Encode(op))
	ids["dave"] = user("dave", teamD, "", nil)
	ids["team_d"] = pub(teamD)

	// TEAM_E: JetStream with file storage only (no memory granted).
	teamE := must(nkeys.CreateAccount())
	ec := jwt.NewAccountClaims(pub(teamE))
	ec.Name = "TEAM_E"
	ec.Limits.MemoryStorage = 0
	ec.Limits.DiskStorage = 1 << 20
	teamEJWT := must(ec.Encode(op))
	ids["erin"] = user("erin", teamE, "", nil)
	ids["team_e"] = pub(teamE)

	sc := jwt.NewAccountClaims(pub(sys))
	sc.Name = "SYS"
	sysJWT := must(sc.Encode(op))

	// An account JWT signed by an operator the server does not trust (config error fixture).
	uc := jwt.NewAccountClaims(pub(untrustedAcc))
	uc.Name = "UNTRUSTED"
	write("untrusted_account.jwt", []byte(must(uc.Encode(badOp))))
	// Lets tests issue short-lived users of TEAM_A at run time (expiry while connected).
	write("team_a_signing_key.seed", append(must(teamASK.Seed()), '\n'))
	write("team_a.jwt", []byte(teamAJWT))
	write("team_b.jwt", []byte(teamBJWT))
	write("sys.jwt", []byte(sysJWT))

	ids["operator"] = pub(op)
	ids["operator_signing_key"] = pub(opSK)
	ids["sys"] = pub(sys)
	ids["team_a"] = pub(teamA)
	ids["team_a_signing_key"] = pub(teamASK)
	ids["team_a_scoped_key"] = pub(teamAScoped)
	ids["team_b"] = pub(teamB)
	ids["untrusted_account"] = pub(untrustedAcc)
	write("ids.json", append(must(json.MarshalIndent(ids, "", "  ")), '\n'))

	preload := fmt.Sprintf("%q = %q\n%q = %q\n%q = %q\n%q = %q\n%q = %q\n%q = %q\n",
		pub(sys), sysJWT, pub(teamA), teamAJWT, pub(teamB), teamBJWT, pub(teamC), teamCJWT,
		pub(teamD), teamDJWT, pub(teamE), teamEJWT)
	write("preload.toml", []byte(preload))
}
