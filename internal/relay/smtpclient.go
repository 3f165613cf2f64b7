package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/waymark-mail/waymark/internal/netguard"
	"github.com/waymark-mail/waymark/internal/store"
)

// Deadlines of a delivery, shorter than RFC 5321's suggestions (5 and 10
// minutes) so that a silent server costs little, and well within the
// lease so that no other worker takes the message meanwhile.
const (
	commandTimeout    = 2 * time.Minute
	submissionTimeout = 5 * time.Minute
)

func (r *Relay) dial(ctx context.Context, serverURL string) (*smtp.Client, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme != "smtp" || u.Host == "" {
		return nil, fmt.Errorf("delivery server %q is not smtp://host:port", serverURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "25")
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	if !r.AllowPrivate && serverURL != r.Composer.DefaultServer {
		// A tenant's server must be on the Internet: checked on the
		// address dialled, after DNS, so a name for 127.0.0.1 is caught.
		d.Control = func(network, address string, c syscall.RawConn) error {
			var pe *netguard.PrivateError
			if err := netguard.Control(network, address, c); errors.As(err, &pe) {
				return fmt.Errorf("delivery server %s is at a private address %s (the operator may allow it with --delivery-allow-private)", serverURL, pe.Addr)
			} else if err != nil {
				return err
			}
			return nil
		}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, ok := r.startTLS.Load(serverURL); ok {
		// Opportunistic TLS (RFC 7435): encrypt when offered, without
		// checking the certificate: delivery servers on private networks
		// rarely have a public one.
		c, err := smtp.NewClientStartTLS(conn, &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: true})
		if err != nil {
			r.startTLS.Delete(serverURL) // maybe no longer offered: look again next time
			return nil, err
		}
		c.CommandTimeout, c.SubmissionTimeout = commandTimeout, submissionTimeout
		if err := c.Hello(r.Hostname); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout, c.SubmissionTimeout = commandTimeout, submissionTimeout
	if err := c.Hello(r.Hostname); err != nil {
		c.Close()
		return nil, err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		// go-smtp starts TLS only on a new client: remember, and dial again.
		r.startTLS.Store(serverURL, true)
		_ = c.Quit()
		return r.dial(ctx, serverURL)
	}
	return c, nil
}

func (r *Relay) sendOne(c *smtp.Client, m store.Mail) outcome {
	var opts *smtp.MailOptions
	if ok, _ := c.Extension("8BITMIME"); ok && !isASCII(m.Data) {
		opts = &smtp.MailOptions{Body: smtp.Body8BitMIME}
	}
	err := c.Mail(m.From, opts)
	if err == nil {
		if err = c.Rcpt(m.Rcpt, nil); err != nil {
			_ = c.Reset()
			o := classify(err)
			o.mailbox = o.permanent && mailboxGone(err)
			return o
		}
	}
	var w *smtp.DataCommand
	if err == nil {
		w, err = c.Data()
	}
	if err == nil {
		_, err = w.Write(m.Data)
		var resp *smtp.DataResponse
		if err == nil {
			resp, err = w.CloseWithResponse()
		}
		if err == nil {
			return outcome{reply: resp.StatusText}
		}
	}
	if isSMTPError(err) {
		_ = c.Reset()
	}
	return classify(err)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func isSMTPError(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// classify turns a delivery error into an outcome: a 5xx reply is
// permanent; 4xx replies, timeouts and connection errors are temporary.
func classify(err error) outcome {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		text := fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
		if se.EnhancedCode == smtp.NoEnhancedCode {
			text = fmt.Sprintf("%d %s", se.Code, se.Message)
		}
		return outcome{permanent: se.Code >= 500, err: errors.New(text)}
	}
	return outcome{err: err}
}
