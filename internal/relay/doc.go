// Package relay turns a submitted message into the copies waymark sends
// and delivers them.
//
// The Composer (compose.go) is the one path for SMTP submission, POST
// /v1/messages and the milter: it checks the From domain, picks the
// delivery server and the tracking host, and writes each recipient's copy
// with its tracking rewritten, control headers removed and the DKIM
// signature last. Submit (submit.go) queues the copies with a group
// commit, each with a VERP envelope sender on the sending domain's bounce
// host (verp.go); the delivery workers (deliver.go) claim due copies,
// send them over one connection per delivery server (smtpclient.go),
// retry with back-off and record bounces; Forward (forward.go) sends a
// copy on to a friend. SMTPServer (smtpd.go) is the submission service.
//
// Every refusal is declared once as a Refusal value with its API code,
// SMTP reply code and enhanced status code (refusal.go).
package relay
