package dkim_test

import (
	"bytes"
	"fmt"
	"strings"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/waymark-mail/waymark/internal/dkim"
)

// Sign a message for example.com with a new Ed25519 key published under
// the selector wme1, and verify it with go-msgauth, a separate
// implementation, reading the key from the TXT record dkim.TXT gives.
func ExampleSign() {
	key, err := dkim.GenerateKey(dkim.Ed25519)
	if err != nil {
		panic(err)
	}
	txt, err := dkim.TXT(key.Public())
	if err != nil {
		panic(err)
	}
	msg := "From: News <news@example.com>\r\nTo: ann@example.org\r\nSubject: Spring sale\r\n\r\nHello.\r\n"
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader(msg), "example.com", []dkim.Key{{Selector: "wme1", Signer: key}}); err != nil {
		panic(err)
	}
	// The signature's first line: algorithm, canonicalisation, domain and
	// selector (the next lines hold the time, the signed fields and the
	// hashes, which change with the clock and the key).
	first, _, _ := strings.Cut(signed.String(), "\r\n")
	fmt.Println(first)

	vs, err := msgauth.VerifyWithOptions(&signed, &msgauth.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if name != "wme1._domainkey.example.com" {
			return nil, fmt.Errorf("no TXT record at %s", name)
		}
		return []string{txt}, nil
	}})
	if err != nil {
		panic(err)
	}
	// h= lists each present field once more than the message has it, so
	// an added copy breaks the signature, and the List-Unsubscribe fields
	// as absent; not Date or Message-ID, which a server on the way may add.
	for _, v := range vs {
		fmt.Printf("d=%s verified: %v\n", v.Domain, v.Err == nil)
		fmt.Println("h=" + strings.Join(v.HeaderKeys, ":"))
	}
	// Output:
	// DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=wme1;
	// d=example.com verified: true
	// h=From:From:To:To:Subject:Subject:List-Unsubscribe:List-Unsubscribe-Post
}
