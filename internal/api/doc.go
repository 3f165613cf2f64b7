// Package api serves waymark's REST API (JSON over HTTP, bearer keys, the
// route table in one list that the mux and the OpenAPI document both
// follow) and the operational endpoints /healthz and /metrics. The CLI and
// the dashboard (package web) are its clients; business rules live behind
// it, not in front of it.
//
// It also owns the JSON shapes of the objects it shows, so what other
// packages send elsewhere looks the same: the Notifier renders the
// monitor's notifications for webhooks with the API's view of the domain
// (queued with the change they tell of) and mails the failures, and
// EventOf is both the API's and the webhooks' view of an event.
// EnsureAdminKey makes or stores the admin key at first start.
//
// The user-facing reference is docs/API.md.
package api
