package testenv

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var dkimSignature = regexp.MustCompile(`(?im)^DKIM-Signature:`)

// VerifyDKIM has the independent verifiers check msg, reading keys through
// this Unbound (StartUnboundForLibc) as a receiving server would:
// python3-dkim's dkimverify checks every DKIM-Signature (--index), and
// OpenDKIM's opendkim-testmsg checks a message with one signature (it
// reports on a message as a whole). It returns each verifier's verdict:
// nil if it verified, else an error with its output.
func (u *Unbound) VerifyDKIM(t testing.TB, msg string) map[string]error {
	t.Helper()
	dkimverify := lookBin(t, "dkimverify", "python3-dkim's dkimverify (apt python3-dkim python3-dnspython python3-nacl)")
	testmsg := lookBin(t, "opendkim-testmsg", "OpenDKIM's opendkim-testmsg (apt opendkim-tools)")
	n := len(dkimSignature.FindAllStringIndex(msg, -1))
	if n == 0 {
		t.Fatalf("VerifyDKIM: the message has no DKIM-Signature:\n%s", msg)
	}
	verdicts := map[string]error{}
	run := func(name, bin string, args ...string) {
		cmd := u.Command(bin, args...)
		cmd.Stdin = strings.NewReader(msg)
		if out, err := cmd.CombinedOutput(); err != nil {
			verdicts[name] = fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(string(out)))
		} else {
			verdicts[name] = nil
		}
	}
	for i := range n {
		run("dkimverify --index "+strconv.Itoa(i), dkimverify, "--index", strconv.Itoa(i))
	}
	if n == 1 {
		run("opendkim-testmsg", testmsg)
	}
	return verdicts
}
