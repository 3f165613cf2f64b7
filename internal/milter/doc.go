// Package milter gives Postfix (or Sendmail) waymark's rewriting and
// signing in place, as a milter (--milter): the operator adds one line,
// smtpd_milters = inet:host:port, and mail of a cluster whose From domain
// is one of its active sending domains leaves rewritten and signed, with a
// VERP envelope sender when it has one recipient. Whose mail it is comes
// from the client's SASL login (a cluster id) or, for a Postfix that sends
// for one cluster, from --milter-cluster; never from the From header
// alone, which anyone can write. Other mail passes untouched.
package milter
