// Package edge answers tracking links on the tracking hosts: /c/ clicks
// (302 to the destination), /o/ the open pixel, /u/ unsubscribe (RFC 8058
// one-click POST), /f/ forward to a friend (sent on through the relay). A
// token is verified in memory (track.Keys, no database read) and answered
// only on an active tracking domain of its own cluster, or on the platform
// host t.<platform-domain>; everything else is a 404, never a redirect.
// Each request is classified (human, bot or proxy, with the reason), and
// its event is committed first (Recorder, a group commit), so nothing
// answered is lost.
package edge
