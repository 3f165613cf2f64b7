package track

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The secrets of the test keys: cluster A's keys 1 (old) and 2 (current),
// and B's key 1.
var (
	secretA1 = []byte("old key of cluster a, rotated!!!")
	secretA  = []byte("0123456789abcdef0123456789abcdef")
	secretB  = []byte("fedcba9876543210fedcba9876543210")
)

var (
	keyA1 = mustKey(1, secretA1)
	keyA  = mustKey(2, secretA)
	keyB  = mustKey(1, secretB)
)

func mustKey(id uint32, secret []byte) *Key {
	k, err := NewKey(id, secret)
	if err != nil {
		panic(err)
	}
	return k
}

// keys knows cluster A's keys 1 and 2, and B's key 1.
func keys(cluster string, id uint32) (*Key, bool) {
	switch {
	case cluster == "cl_00000000000000aa" && id == 1:
		return keyA1, true
	case cluster == "cl_00000000000000aa" && id == 2:
		return keyA, true
	case cluster == "cl_00000000000000bb" && id == 1:
		return keyB, true
	}
	return nil, false
}

func TestRoundTrip(t *testing.T) {
	for _, tok := range []Token{
		{Kind: Click, KeyID: 2, Issued: time.Unix(1_800_000_000, 0).UTC(), ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "ann@example.com", URL: "https://example.com/a?b=c&d=%20e#f"},
		{Kind: Open, KeyID: 2, Issued: time.Unix(0, 0).UTC(), ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "ann@example.com"},
		{Kind: Unsubscribe, KeyID: 2, Issued: time.Unix(1, 0).UTC(), ClusterID: "cl_00000000000000aa", MessageID: "m", Recipient: "Bö@例え.jp"},
		{Kind: Forward, KeyID: 1, Issued: time.Unix(0, 0).UTC(), ClusterID: "cl_00000000000000aa", MessageID: "", Recipient: ""},
		{Kind: Honeypot, KeyID: 1, Issued: time.Unix(1_800_000_000, 0).UTC(), ClusterID: "cl_00000000000000bb", MessageID: "msg_2", Recipient: "bob@example.org"},
		{Kind: Click, KeyID: 1, Issued: time.Unix(0, 0).UTC(), ClusterID: "cl_00000000000000bb", URL: "http://x/" + strings.Repeat("y", 4000)},
	} {
		key, _ := keys(tok.ClusterID, tok.KeyID)
		s, err := Encode(tok, key)
		if err != nil {
			t.Fatalf("%+v: %v", tok, err)
		}
		if strings.ContainsAny(s, "+/=") {
			t.Fatalf("token is not URL-safe: %s", s)
		}
		got, err := Decode(s, keys)
		if err != nil || got != tok || !got.Issued.Equal(tok.Issued) {
			t.Fatalf("round trip of %+v: %+v %v", tok, got, err)
		}
	}
	// Compact: a typical click link stays short.
	s, _ := Encode(Token{Kind: Click, KeyID: 2, Issued: time.Now(), ClusterID: "cl_00000000000000aa", MessageID: "msg_0123456789abcdef",
		Recipient: "someone@example.com", URL: "https://example.com/spring-sale"}, keyA)
	if len(s) > 146 {
		t.Fatalf("click token of %d characters: %s", len(s), s)
	}
}

func TestRefusals(t *testing.T) {
	good := Token{Kind: Click, KeyID: 2, ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "ann@example.com", URL: "https://example.com/"}
	s, _ := Encode(good, keyA)
	// A token naming B and B's key id, made under A's key, does not
	// authenticate.
	forgedB := good
	forgedB.ClusterID = "cl_00000000000000bb"
	sB, _ := Encode(forgedB, mustKey(1, secretA))
	flip := func(i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, tc := range map[string]struct {
		in   string
		want error
	}{
		"empty":             {"", ErrMalformed},
		"not base64":        {"!!!!", ErrMalformed},
		"padding":           {s + "==", ErrMalformed},
		"truncated":         {s[:len(s)-4], ErrForged},
		"too short":         {s[:10], ErrMalformed},
		"extended":          {s + "AAAA", ErrForged},
		"first byte":        {flip(0), ErrMalformed},
		"middle byte":       {flip(len(s) / 2), ErrForged},
		"last byte":         {flip(len(s) - 1), ErrForged},
		"wrong cluster key": {sB, ErrForged},
		"huge":              {strings.Repeat("A", 10000), ErrMalformed},
	} {
		if _, err := Decode(tc.in, keys); err == nil || (!errors.Is(err, tc.want) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownKey)) {
			t.Errorf("%s: err %v, want %v", name, err, tc.want)
		}
	}
	su, _ := Encode(good, mustKey(9, secretA))
	if _, err := Decode(su, keys); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key id: %v", err)
	}
	for name, tok := range map[string]Token{
		"bad kind":        {Kind: 'x', ClusterID: "cl_00000000000000aa"},
		"bad cluster":     {Kind: Open, ClusterID: "acme"},
		"upper-case hex":  {Kind: Open, ClusterID: "cl_00000000000000AA"},
		"click without":   {Kind: Click, ClusterID: "cl_00000000000000aa"},
		"open with url":   {Kind: Open, ClusterID: "cl_00000000000000aa", URL: "https://x/"},
		"long message id": {Kind: Open, ClusterID: "cl_00000000000000aa", MessageID: strings.Repeat("m", 129)},
		"long recipient":  {Kind: Open, ClusterID: "cl_00000000000000aa", Recipient: strings.Repeat("r", 321)},
		"long url":        {Kind: Click, ClusterID: "cl_00000000000000aa", URL: strings.Repeat("u", 4097)},
	} {
		if _, err := Encode(tok, keyA); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	if _, err := Encode(good, nil); err == nil {
		t.Error("no key accepted")
	}
}

// TestEncoder: one encoder reused for tokens of every size gives the
// strings Encode gives, appended after what the buffer held, and a refused
// token leaves the buffer as it was.
func TestEncoder(t *testing.T) {
	e, err := NewEncoder(keyA)
	if err != nil {
		t.Fatal(err)
	}
	base := Token{KeyID: 2, Issued: time.Unix(1_800_000_000, 0), ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "ann@example.com"}
	var buf []byte
	for _, kind := range []Kind{Click, Open, Click, Unsubscribe, Forward, Honeypot, Click} {
		tok := base
		tok.Kind = kind
		if kind == Click {
			tok.URL = "https://example.com/" + strings.Repeat("p", len(buf)%300)
		}
		want, err := Encode(tok, keyA)
		if err != nil {
			t.Fatal(err)
		}
		before := len(buf)
		if buf, err = e.Append(buf, tok); err != nil {
			t.Fatal(err)
		}
		if got := string(buf[before:]); got != want {
			t.Fatalf("%c: encoder gave %s, Encode %s", kind, got, want)
		}
		buf = append(buf, ' ')
	}
	held := string(buf)
	bad := base
	bad.Kind = Click // without a URL
	if got, err := e.Append(buf, bad); err == nil || string(got) != held {
		t.Fatalf("refused token: err %v, buffer %q", err, got)
	}
	if _, err := NewEncoder(nil); err == nil {
		t.Fatal("no key accepted")
	}
	if _, err := NewKey(1, nil); err == nil {
		t.Fatal("empty secret accepted")
	}
}

// TestEncoderAllocs: appending a token to a buffer with room allocates
// nothing (the point of the encoder).
func TestEncoderAllocs(t *testing.T) {
	e, _ := NewEncoder(keyA)
	tok := Token{Kind: Click, KeyID: 2, Issued: time.Unix(1_800_000_000, 0), ClusterID: "cl_00000000000000aa", MessageID: "msg_1",
		Recipient: "ann@example.com", URL: "https://shop.example.com/products/1?utm_source=newsletter"}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf, _ = e.Append(buf[:0], tok) }); n != 0 {
		t.Fatalf("%v allocations per token", n)
	}
}

// goldenV1 are tokens as version 1 made them, in mail already delivered:
// they must keep decoding to the same fields.
var goldenV1 = []struct {
	token string
	want  Token
}{
	{"AWMCgKSn2gYAAAAAAAAAqhRtc2dfMDEyMzQ1Njc4OWFiY2RlZg9hbm5AZXhhbXBsZS5jb201aHR0cHM6Ly9leGFtcGxlLmNvbS9zcHJpbmctc2FsZT91dG1fc291cmNlPW5ld3NsZXR0ZXJZxQBnnEcjbt7cVknIcjDX",
		Token{Kind: 'c', KeyID: 2, Issued: time.Unix(1800000000, 0).UTC(), ClusterID: "cl_00000000000000aa", MessageID: "msg_0123456789abcdef", Recipient: "ann@example.com", URL: "https://example.com/spring-sale?utm_source=newsletter"}},
	{"AW8CgKSn2gYAAAAAAAAAqhRtc2dfMDEyMzQ1Njc4OWFiY2RlZg9hbm5AZXhhbXBsZS5jb20sW-Ftg9CM_I9pFkg4YMwT",
		Token{Kind: 'o', KeyID: 2, Issued: time.Unix(1800000000, 0).UTC(), ClusterID: "cl_00000000000000aa", MessageID: "msg_0123456789abcdef", Recipient: "ann@example.com"}},
	{"AXUBgPfE1QYAAAAAAAAAqgVtc2dfMQ1Cw7ZA5L6L44GILmpwcQIwQvBrutjhytUNCjBs8A",
		Token{Kind: 'u', KeyID: 1, Issued: time.Unix(1790000000, 0).UTC(), ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "Bö@例え.jp"}},
	{"AWYBgPfE1QYAAAAAAAAAuwVtc2dfMg9ib2JAZXhhbXBsZS5vcmf0n6mOCrCgNsoXOAAUF3N5",
		Token{Kind: 'f', KeyID: 1, Issued: time.Unix(1790000000, 0).UTC(), ClusterID: "cl_00000000000000bb", MessageID: "msg_2", Recipient: "bob@example.org"}},
	{"AWgBgPfE1QYAAAAAAAAAuwVtc2dfMg9ib2JAZXhhbXBsZS5vcmcGlIaQLL-oWU_pVzytcuCd",
		Token{Kind: 'h', KeyID: 1, Issued: time.Unix(1790000000, 0).UTC(), ClusterID: "cl_00000000000000bb", MessageID: "msg_2", Recipient: "bob@example.org"}},
}

// TestVersion1StillDecodes: links in mail sent before version 2 keep
// working, altered ones do not, and the same fields made today are a
// version-2 token of exactly the same length (a link grows by nothing).
func TestVersion1StillDecodes(t *testing.T) {
	for _, g := range goldenV1 {
		got, err := Decode(g.token, keys)
		if err != nil || got != g.want {
			t.Fatalf("%s: %+v %v, want %+v", g.token, got, err, g.want)
		}
		for i := range g.token {
			b := []byte(g.token)
			b[i] ^= 0x01
			if tok, err := Decode(string(b), keys); err == nil {
				t.Fatalf("%s altered at %d decoded to %+v", g.token, i, tok)
			}
		}
		key, _ := keys(g.want.ClusterID, g.want.KeyID)
		now, err := Encode(g.want, key)
		if err != nil {
			t.Fatal(err)
		}
		if raw, _ := b64.DecodeString(now); raw[0] != version2 || len(now) != len(g.token) {
			t.Fatalf("today's token %s (version %d, %d characters) for version 1's %s (%d)", now, raw[0], len(now), g.token, len(g.token))
		}
	}
}

// TestNothingReadable: a token shows its cluster and key id and nothing
// else: not the recipient, its local part or domain, the message id or the
// destination, in any encoding a reader would try, and two recipients of
// one link get tokens that share nothing after the header.
func TestNothingReadable(t *testing.T) {
	tok := Token{Kind: Click, Issued: time.Unix(1_800_000_000, 0), ClusterID: "cl_00000000000000aa", MessageID: "msg_0123456789abcdef",
		Recipient: "ann.smith@example.com", URL: "https://shop.example.com/spring-sale"}
	s, err := Encode(tok, keyA)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := b64.DecodeString(s)
	for _, field := range []string{"ann.smith", "example.com", "msg_0123", "spring-sale", "shop.example"} {
		if bytes.Contains(raw, []byte(field)) || strings.Contains(s, b64.EncodeToString([]byte(field))[:8]) {
			t.Errorf("%q can be read in %s", field, s)
		}
	}
	other := tok
	other.Recipient = "bob.jones@example.com"
	s2, _ := Encode(other, keyA)
	raw2, _ := b64.DecodeString(s2)
	header := 1 + 8 + 1
	if !bytes.Equal(raw[:header], raw2[:header]) {
		t.Fatalf("headers differ: %x %x", raw[:header], raw2[:header])
	}
	same := 0
	for i := header; i < min(len(raw), len(raw2)); i++ {
		if raw[i] == raw2[i] {
			same++
		}
	}
	if same > len(raw)/16 { // about 1 in 256 bytes agree by chance
		t.Fatalf("%d of %d bytes equal between two recipients' tokens", same, len(raw)-header)
	}
	// Deterministic: the same fields make the same token.
	if again, _ := Encode(tok, keyA); again != s {
		t.Fatalf("two spellings of one token: %s %s", s, again)
	}
}

// TestCTRIsTheStandardOne: the hand-written CTR gives crypto/cipher's
// stream for every length up to a few blocks past a token's and for
// counters that carry across bytes and wrap around.
func TestCTRIsTheStandardOne(t *testing.T) {
	block := keyA.block
	var st state
	src := make([]byte, 700)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for _, iv := range [][]byte{
		make([]byte, 16),
		bytes.Repeat([]byte{0xff}, 16),
		append(bytes.Repeat([]byte{0x01}, 8), bytes.Repeat([]byte{0xff}, 8)...),
		[]byte("0123456789abcdef"),
	} {
		for n := 0; n <= len(src); n += 1 + n/8 {
			want := make([]byte, n)
			cipher.NewCTR(block, iv).XORKeyStream(want, src[:n])
			got := make([]byte, n)
			st.xorCTR(block, iv, got, src[:n])
			if !bytes.Equal(got, want) {
				t.Fatalf("iv %x, %d bytes: %x, want %x", iv, n, got, want)
			}
		}
	}
}

// TestDecodeConcurrently: one key decodes on many goroutines at once (the
// edge's case) with the same answers; run with -race to see the pool.
func TestDecodeConcurrently(t *testing.T) {
	var tokens []string
	var want []Token
	for i := range 50 {
		tok := Token{Kind: Click, KeyID: 2, Issued: time.Unix(int64(i), 0).UTC(), ClusterID: "cl_00000000000000aa", MessageID: fmt.Sprint("msg_", i),
			Recipient: fmt.Sprintf("r%d@example.com", i), URL: "https://example.com/" + strings.Repeat("p", i*20)}
		s, err := Encode(tok, keyA)
		if err != nil {
			t.Fatal(err)
		}
		tokens, want = append(tokens, s), append(want, tok)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for j := range 500 {
				i := (g*31 + j) % len(tokens)
				if got, err := Decode(tokens[i], keys); err != nil || got != want[i] {
					errs <- fmt.Errorf("token %d: %+v %v", i, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
