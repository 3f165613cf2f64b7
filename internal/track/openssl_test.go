package track

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/testenv"
)

// TestOpenSSLOpensTokens: the OpenSSL command line, an implementation
// that shares no code with this package, opens a version-2 token from the
// layout alone (docs/CONCEPTS.md#tracking-links): it derives the two keys
// with HKDF-SHA256, decrypts with AES-256-CTR under the synthetic IV, and
// finds the IV equal to the HMAC-SHA256 of the header and the fields.
func TestOpenSSLOpensTokens(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		testenv.Missing(t, "openssl", err)
	}
	run := func(stdin []byte, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return out
	}
	derive := func(info string) string {
		out := run(nil, "kdf", "-keylen", "32", "-kdfopt", "digest:SHA256", "-kdfopt", "hexkey:"+hex.EncodeToString(secretA),
			"-kdfopt", "info:"+info, "HKDF")
		return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(string(out)), ":", ""))
	}
	sivKey, encKey := derive(infoSIV), derive(infoEnc)
	for _, tok := range []Token{
		{Kind: Click, KeyID: 2, Issued: time.Unix(1_800_000_000, 0).UTC(), ClusterID: "cl_00000000000000aa", MessageID: "msg_0123456789abcdef",
			Recipient: "ann@example.com", URL: "https://shop.example.com/products/7?utm_source=newsletter&utm_medium=email" + strings.Repeat("&x=1", 40)},
		{Kind: Unsubscribe, KeyID: 2, Issued: time.Unix(1_800_000_000, 0).UTC(), ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "bö@例え.jp"},
	} {
		s, err := Encode(tok, keyA)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := b64.DecodeString(s)
		header := raw[:1+8+1] // version, cluster, key id 2 (one byte)
		siv, ct := raw[len(header):len(header)+16], raw[len(header)+16:]
		if header[0] != 2 || hex.EncodeToString(header[1:9]) != "00000000000000aa" || header[9] != 2 {
			t.Fatalf("header %x", header)
		}
		pt := run(ct, "enc", "-d", "-aes-256-ctr", "-K", encKey, "-iv", hex.EncodeToString(siv), "-nopad")
		mac := run(append(append([]byte{}, header...), pt...), "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:"+sivKey, "-binary")
		if !bytes.Equal(mac[:16], siv) {
			t.Fatalf("OpenSSL's HMAC %x, the token's IV %x", mac[:16], siv)
		}
		// kind | issued | message | recipient | url, by hand.
		want := []byte{byte(tok.Kind)}
		want = binary.AppendUvarint(want, uint64(tok.Issued.Unix()))
		for i, f := range []string{tok.MessageID, tok.Recipient, tok.URL} {
			if i == 2 && tok.Kind != Click {
				break
			}
			want = binary.AppendUvarint(want, uint64(len(f)))
			want = append(want, f...)
		}
		if !bytes.Equal(pt, want) {
			t.Fatalf("OpenSSL decrypted %q, want %q", pt, want)
		}
	}
}
