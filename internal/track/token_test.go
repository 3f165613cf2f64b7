package track

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	keyA = []byte("0123456789abcdef0123456789abcdef")
	keyB = []byte("fedcba9876543210fedcba9876543210")
)

// keys knows cluster A's keys 1 (old) and 2 (current), and B's key 1.
func keys(cluster string, id uint32) ([]byte, bool) {
	switch {
	case cluster == "cl_00000000000000aa" && id == 1:
		return []byte("old key of cluster a, rotated!!!"), true
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
	// A token minted for A under B's key id does not authenticate.
	forgedB := good
	forgedB.ClusterID, forgedB.KeyID = "cl_00000000000000bb", 1
	sB, _ := Encode(forgedB, keyA)
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
	unknown := good
	unknown.KeyID = 9
	su, _ := Encode(unknown, keyA)
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
		t.Error("empty key accepted")
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
		t.Fatal("empty key accepted")
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
