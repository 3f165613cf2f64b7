// Package cli is waymark's command-line client: the cluster,
// tracking-domain and sending-domain subcommands, which call the REST API
// and print aligned tables (or the API's JSON with --json), and the flag
// parsing that every subcommand and serve share, where each flag can also
// come from WAYMARK_<NAME>.
package cli
