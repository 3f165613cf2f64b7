package track_test

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/track"
)

// key is a cluster's key number 2 (its secret is 32 random bytes in real
// use).
var key, _ = track.NewKey(2, []byte("0123456789abcdef0123456789abcdef"))

// keys is what the edge gives Decode: the cluster's keys by id.
func keys(clusterID string, keyID uint32) (*track.Key, bool) {
	return key, clusterID == "cl_00000000000000aa" && keyID == 2
}

// A click token carries everything the edge needs to answer the click: no
// database read, no way to change the destination without the key, and
// nothing readable but the cluster and the key id: not the recipient, not
// the destination. The output pins the token layout: links in mail already
// sent must keep decoding, as the version-1 link at the end still does.
func ExampleEncode() {
	tok, err := track.Encode(track.Token{
		Kind:      track.Click,
		KeyID:     2,
		Issued:    time.Date(2027, 1, 15, 8, 0, 0, 0, time.UTC),
		ClusterID: "cl_00000000000000aa",
		MessageID: "msg_1",
		Recipient: "ann@example.com",
		URL:       "https://shop.example/sale",
	}, key)
	if err != nil {
		panic(err)
	}
	fmt.Println("https://track.example.com/c/" + tok)

	t, err := track.Decode(tok, keys)
	fmt.Println(t.Recipient, t.URL, t.Issued, err)

	altered := []byte(tok)
	altered[40] ^= 1
	_, err = track.Decode(string(altered), keys)
	fmt.Println(err)

	// The same click as version 1 minted it, its fields in the clear.
	t, err = track.Decode("AWMCgKSn2gYAAAAAAAAAqgVtc2dfMQ9hbm5AZXhhbXBsZS5jb20ZaHR0cHM6Ly9zaG9wLmV4YW1wbGUvc2FsZWz4d-X8QUCfPfWHPcbjeac", keys)
	fmt.Println(t.Recipient, t.URL, t.Issued, err)
	// Output:
	// https://track.example.com/c/AgAAAAAAAACqAhO0lWv8UYx-JFxIo_cNjl8OTvJBqw-CsCjhkULtgBd0oBElxtd2wVE7o0znYn5lxidyK65BL0Jxm3n3AAYqbp-fxNlVJ1g
	// ann@example.com https://shop.example/sale 2027-01-15 08:00:00 +0000 UTC <nil>
	// track: token does not authenticate
	// ann@example.com https://shop.example/sale 2027-01-15 08:00:00 +0000 UTC <nil>
}

// One Encoder mints all of a message's tokens, appending each where the
// caller wants it.
func ExampleEncoder() {
	enc, err := track.NewEncoder(key)
	if err != nil {
		panic(err)
	}
	t := track.Token{KeyID: 2, ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "ann@example.com"}
	var line []byte
	for _, kind := range []track.Kind{track.Open, track.Unsubscribe} {
		t.Kind = kind
		line = append(line, "https://track.example.com/"...)
		line = append(line, byte(kind), '/')
		if line, err = enc.Append(line, t); err != nil {
			panic(err)
		}
		line = append(line, '\n')
	}
	fmt.Print(string(line))
	// Output:
	// https://track.example.com/o/AgAAAAAAAACqAlQ-IHRzofVzTdenoHEc29rix1fElOsvdM--jo_ElFn_krDzd0y-6bc
	// https://track.example.com/u/AgAAAAAAAACqAr4jvJp8i57OHuqucAG1wLbTCrx8R6rfksnLO3SpGqBfz2CkhXX9KCQ
}

// The relay rewrites each recipient's copy: links become tracking links,
// the placeholders become the recipient's own links, the honeypot and the
// open pixel go before </body>, and List-Unsubscribe (RFC 2369, RFC 8058)
// is set.
func ExampleRewriter_Message() {
	enc, err := track.NewEncoder(key)
	if err != nil {
		panic(err)
	}
	rw := &track.Rewriter{
		Host:    "track.example.com",
		Encoder: enc,
		Token:   track.Token{KeyID: 2, ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "ann@example.com"},
	}
	msg := "From: news@example.com\r\n" +
		"To: ann@example.com\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n" +
		"\r\n" +
		"<p><a href=\"https://shop.example/sale\">Sale</a></p>\r\n" +
		"<p><a href=\"{{unsubscribe}}\">Unsubscribe</a></p></body>\r\n"
	var out bytes.Buffer
	if err := rw.Message(&out, strings.NewReader(msg)); err != nil {
		panic(err)
	}
	// Print each link as what its token carries.
	link := regexp.MustCompile(`https://track\.example\.com/[couf]/([A-Za-z0-9_-]+)`)
	readable := link.ReplaceAllStringFunc(out.String(), func(s string) string {
		t, err := track.Decode(link.FindStringSubmatch(s)[1], keys)
		if err != nil {
			return "(" + err.Error() + ")"
		}
		if t.URL != "" {
			return fmt.Sprintf("[%c %s]", t.Kind, t.URL)
		}
		return fmt.Sprintf("[%c]", t.Kind)
	})
	fmt.Print(strings.ReplaceAll(readable, "\r\n", "\n"))
	// Output:
	// List-Unsubscribe-Post: List-Unsubscribe=One-Click
	// List-Unsubscribe: <[u]>
	// From: news@example.com
	// To: ann@example.com
	// Content-Type: text/html; charset=utf-8
	//
	// <p><a href="[c https://shop.example/sale]">Sale</a></p>
	// <p><a href="[u]">Unsubscribe</a></p><a href="[h]" style="display:none !important" aria-hidden="true" tabindex="-1"></a><img src="[o]" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px"></body>
}
