package milter

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-milter"

	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/sending/sendingtest"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const cl = "cl_00000000000000aa"

// TestWhoseMail: a client that logged in as a cluster owns its mail (the
// login comes with MAIL FROM, before later stages' macros replace it);
// another login, or none, owns nothing unless --milter-cluster names the
// cluster, and then only mail from one of its sending domains (any mail,
// if the cluster relays unsigned mail). The whole
// milter runs against Postfix in cmd/waymark (go-milter's client cannot
// talk to its own server: it wants protocol 6, the server offers 2).
func TestWhoseMail(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	box, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.CreateCluster(ctx, store.Cluster{ID: cl, Name: "acme", CreatedAt: now}, "h"); err != nil {
		t.Fatal(err)
	}
	sendingtest.Domain(t, st, box, cl, "sd_1", "l1", "acme-mail.com", domain.StatusActive, []string{"rsa"}, now)
	raw := func(from string) []byte { return []byte("From: " + from + "\r\nTo: ann@example.org\r\n\r\nhi\r\n") }
	for _, tc := range []struct {
		login, fixed, from, want string
	}{
		{cl, "", "news@acme-mail.com", cl},
		{cl, "", "news@other.example", cl}, // Prepare then refuses the From
		{"someone", cl, "news@acme-mail.com", ""},
		{"cl_00000000000000bb", "", "news@acme-mail.com", ""},
		{"", "", "news@acme-mail.com", ""},
		{"", cl, "news@acme-mail.com", cl},
		{"", cl, "news@other.example", ""},
	} {
		ss := &session{s: &Server{Store: st, Cluster: tc.fixed}}
		if resp, err := ss.MailFrom("news@acme-mail.com", &milter.Modifier{Macros: map[string]string{"{auth_authen}": tc.login}}); err != nil || resp != milter.RespContinue {
			t.Fatalf("MAIL FROM: %v %v", resp, err)
		}
		got, err := ss.cluster(ctx, raw(tc.from))
		if err != nil || got != tc.want {
			t.Errorf("login %q, --milter-cluster %q, From %s: %q %v; want %q", tc.login, tc.fixed, tc.from, got, err, tc.want)
		}
	}
	// A cluster that relays unsigned mail owns all of --milter-cluster's.
	if _, err := st.UpdateCluster(ctx, cl, func(c store.Cluster) (store.Cluster, error) {
		c.UnsignedMail = "relay"
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	ss := &session{s: &Server{Store: st, Cluster: cl}}
	if got, err := ss.cluster(ctx, raw("news@other.example")); err != nil || got != cl {
		t.Errorf("unsigned_mail relay, --milter-cluster, another From: %q %v", got, err)
	}
}
