package domain

import (
	"errors"
	"testing"
)

// knownCodes are the codes a refusal may carry.
var knownCodes = map[string]bool{
	CodeRequired: true, CodeSyntax: true, CodeTooLong: true, CodeIDN: true,
	CodeIPAddress: true, CodeReservedTLD: true, CodeUnknownTLD: true,
	CodePublicSuffix: true, CodeApex: true, CodePlatform: true, CodeSingleLabel: true,
}

func FuzzTrackingName(f *testing.F) {
	for _, tc := range trackingCases {
		f.Add(tc.in)
	}
	for _, tc := range sendingCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := TrackingName(raw, testPlatform)
		if err != nil {
			var ne *NameError
			if !errors.As(err, &ne) {
				t.Fatalf("%q: error is not a NameError: %v", raw, err)
			}
			if !knownCodes[ne.Code] || ne.Message == "" {
				t.Fatalf("%q: bad NameError %+v", raw, ne)
			}
			if out != "" {
				t.Fatalf("%q: refused but returned %q", raw, out)
			}
			return
		}
		if len(out) > maxName {
			t.Fatalf("%q: %q is %d octets", raw, out, len(out))
		}
		if !isLDH(out) {
			t.Fatalf("%q: %q is not lower-case ASCII LDH", raw, out)
		}
		if out == "" || out[len(out)-1] == '.' || out[0] == '.' {
			t.Fatalf("%q: bad dots in %q", raw, out)
		}
		if again, err := TrackingName(out, testPlatform); err != nil || again != out {
			t.Fatalf("%q: not idempotent: %q gave %q, %v", raw, out, again, err)
		}
		// The looser rules accept what the strict one does, unchanged.
		if s, err := SendingName(raw, testPlatform); err != nil || s != out {
			t.Fatalf("%q: SendingName gave %q, %v; TrackingName %q", raw, s, err, out)
		}
		if n, err := Normalize(raw); err != nil || n != out {
			t.Fatalf("%q: Normalize gave %q, %v; TrackingName %q", raw, n, err, out)
		}
	})
}
