package dkim

import (
	"bufio"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-milter"
	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/waymark-mail/waymark/internal/testenv"
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
	k := mustKey(b, RSA)
	sum := sha256.Sum256([]byte("x"))
	for b.Loop() {
		if _, err := k.Sign(rand.Reader, sum[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawEd25519 is the floor: one Ed25519 signature of a hash.
func BenchmarkRawEd25519(b *testing.B) {
	k := mustKey(b, Ed25519).(ed25519.PrivateKey)
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

// BenchmarkSignParallel signs the 25 KB message with four signers at once
// on the machine's cores, as BenchmarkOpenDKIM drives OpenDKIM.
func BenchmarkSignParallel(b *testing.B) {
	for _, alg := range []Algorithm{RSA, Ed25519} {
		b.Run(string(alg), func(b *testing.B) {
			keys := []Key{{Selector: "wm1", Signer: mustKey(b, alg)}}
			b.SetParallelism(4 / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := Sign(io.Discard, strings.NewReader(message25k), "example.com", keys); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkOpenDKIM has OpenDKIM sign the same message the way a Postfix
// installation does, as a milter (four sessions at once over a Unix
// socket), with the same key type and the same signed headers. Its figure
// includes the milter protocol: a dozen round trips a message.
func BenchmarkOpenDKIM(b *testing.B) {
	var over []string
	for _, h := range signedHeaders {
		if oversigned[h] {
			over = append(over, h)
		}
	}
	header, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(message25k)))
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(message25k[strings.Index(message25k, "\r\n\r\n")+4:])
	for _, alg := range []Algorithm{RSA, Ed25519} {
		b.Run(string(alg), func(b *testing.B) {
			k := mustKey(b, alg)
			sock := testenv.StartOpenDKIM(b, "example.com", "wm1", k, signedHeaders, over)
			client := milter.NewDefaultClient("unix", sock)

			// One message first: OpenDKIM's signature must verify, so the
			// figure below is that of real signing.
			s := openDKIMSession(b, client)
			sig := openDKIMSign(b, s, header, body)
			s.Close()
			txt := mustTXT(b, k.Public())
			vs, err := msgauth.VerifyWithOptions(strings.NewReader(sig+message25k), &msgauth.VerifyOptions{
				LookupTXT: func(string) ([]string, error) { return []string{txt}, nil }})
			if err != nil || len(vs) != 1 || vs[0].Err != nil || !strings.Contains(sig, "c=relaxed/relaxed") {
				b.Fatalf("OpenDKIM's signature does not verify (%v %v):\n%s", err, vs, sig)
			}

			b.SetParallelism(4 / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				s := openDKIMSession(b, client)
				defer s.Close()
				for pb.Next() {
					openDKIMSign(b, s, header, body)
				}
			})
		})
	}
}

func openDKIMSession(b *testing.B, c *milter.Client) *milter.ClientSession {
	s, err := c.Session()
	if err == nil {
		_, err = s.Conn("localhost", milter.FamilyInet, 25, "127.0.0.1")
	}
	if err == nil {
		_, err = s.Helo("localhost")
	}
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// openDKIMSign passes one message through the milter session and returns
// the DKIM-Signature field OpenDKIM asks to insert.
func openDKIMSign(b *testing.B, s *milter.ClientSession, header textproto.Header, body []byte) string {
	if _, err := s.Mail("<news@example.com>", nil); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Rcpt("<ann@example.org>", nil); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Header(header); err != nil {
		b.Fatal(err)
	}
	if _, err := s.BodyChunk(body); err != nil {
		b.Fatal(err)
	}
	acts, _, err := s.End()
	if err != nil {
		b.Fatal(err)
	}
	for _, a := range acts {
		if strings.EqualFold(a.HeaderName, "DKIM-Signature") {
			v := strings.ReplaceAll(strings.ReplaceAll(a.HeaderValue, "\r\n", "\n"), "\n", "\r\n")
			return a.HeaderName + ":" + v + "\r\n"
		}
	}
	b.Fatalf("OpenDKIM added no signature: %+v", acts)
	return ""
}
