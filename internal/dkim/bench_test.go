package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"io"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// message25k is a 25 KB message (headers and a long HTML body).
var message25k = func() string {
	var b strings.Builder
	b.WriteString("From: News <news@example.com>\r\nTo: ann@example.org\r\nSubject: Spring\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n" +
		"Message-ID: <1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n")
	line := "<p>Our spring collection brings light fabrics, bright colours &amp; all you need.   </p>\r\n"
	for b.Len() < 25_000 {
		b.WriteString(line)
	}
	return b.String()
}()

func benchSign(b *testing.B, alg Algorithm) {
	k, err := GenerateKey(alg)
	if err != nil {
		b.Fatal(err)
	}
	keys := []Key{{Selector: "wm1", Signer: k}}
	b.SetBytes(int64(len(message25k)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Sign(io.Discard, strings.NewReader(message25k), "example.com", keys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignRSA signs the 25 KB message with RSA-2048 (relaxed/relaxed).
func BenchmarkSignRSA(b *testing.B) { benchSign(b, RSA) }

// BenchmarkSignEd25519 signs it with Ed25519, where canonicalisation is
// most of the cost.
func BenchmarkSignEd25519(b *testing.B) { benchSign(b, Ed25519) }

// BenchmarkSignEd25519GoMsgauth signs the same message with go-msgauth's
// own signer, which waymark used before its canonicaliser was written.
func BenchmarkSignEd25519GoMsgauth(b *testing.B) {
	k := mustKey(b, Ed25519)
	b.SetBytes(int64(len(message25k)))
	b.ReportAllocs()
	for b.Loop() {
		err := msgauth.Sign(io.Discard, strings.NewReader(message25k), &msgauth.SignOptions{Domain: "example.com", Selector: "wme1",
			Signer: k, HeaderCanonicalization: msgauth.CanonicalizationRelaxed, BodyCanonicalization: msgauth.CanonicalizationRelaxed})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawRSA is the floor: one RSA-2048 PKCS#1 v1.5 signature of a hash.
func BenchmarkRawRSA(b *testing.B) {
	k, _ := rsa.GenerateKey(rand.Reader, RSABits)
	sum := sha256.Sum256([]byte("x"))
	for b.Loop() {
		if _, err := k.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawEd25519 is the floor: one Ed25519 signature of a hash.
func BenchmarkRawEd25519(b *testing.B) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	sum := sha256.Sum256([]byte("x"))
	for b.Loop() {
		ed25519.Sign(k, sum[:])
	}
}

// BenchmarkRelaxedBody is the body hash alone; BenchmarkSHA256Body is its
// floor, the plain SHA-256 of the same bytes.
func BenchmarkRelaxedBody(b *testing.B) {
	body := []byte(message25k[strings.Index(message25k, "\r\n\r\n")+4:])
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		relaxedBodyHash(body)
	}
}

func BenchmarkSHA256Body(b *testing.B) {
	body := []byte(message25k[strings.Index(message25k, "\r\n\r\n")+4:])
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		sha256.Sum256(body)
	}
}
