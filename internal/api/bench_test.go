package api

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waymark-mail/waymark/internal/apikey"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/store/storetest"
	"github.com/waymark-mail/waymark/internal/testenv"
	"github.com/waymark-mail/waymark/internal/track"
)

// importSize is the addresses of one benchmarked import.
const importSize = 10_000

func importCSV(op int) []byte {
	var b bytes.Buffer
	b.WriteString("email\n")
	for i := range importSize {
		fmt.Fprintf(&b, "user%d.%d@example.org\n", op, i)
	}
	return b.Bytes()
}

// BenchmarkSuppressionImport: a CSV import of 10,000 new addresses through
// the API into SQLite (synchronous=FULL; a transaction per 1,000), against
// Postfix's postmap building a hash table of the same addresses (the way
// an MTA loads a list of addresses to refuse). addresses/s of both.
func BenchmarkSuppressionImport(b *testing.B) {
	b.Run("waymark", func(b *testing.B) {
		st := storetest.SQLite(b)
		key := apikey.New(apikey.ClusterPrefix)
		c := store.Cluster{ID: apikey.NewID("cl"), Name: "acme"}
		if err := st.CreateCluster(b.Context(), c, apikey.Hash(key)); err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(New(Options{Store: st, PlatformDomain: platform, Logger: quiet, Box: testBox, Monitor: newChecker(st), Tokens: track.NewKeys(st, testBox)}))
		defer srv.Close()
		bodies := make([][]byte, b.N)
		for i := range bodies {
			bodies[i] = importCSV(i)
		}
		b.ResetTimer()
		for i := range b.N {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/suppressions", bytes.NewReader(bodies[i]))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "text/csv")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("import: %d", resp.StatusCode)
			}
		}
		b.ReportMetric(float64(b.N*importSize)/b.Elapsed().Seconds(), "addresses/s")
	})
	b.Run("postmap", func(b *testing.B) {
		postmap, err := exec.LookPath("postmap")
		if err != nil {
			if postmap, err = exec.LookPath("/usr/sbin/postmap"); err != nil {
				testenv.Missing(b, "postmap (apt postfix)", err)
			}
		}
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte("compatibility_level = 3.6\n"), 0o600); err != nil { // postmap -c reads it
			b.Fatal(err)
		}
		files := make([]string, b.N)
		for i := range files {
			files[i] = filepath.Join(dir, fmt.Sprintf("list%d", i))
			lines := strings.ReplaceAll(strings.TrimPrefix(string(importCSV(i)), "email\n"), "\n", " REJECT\n")
			if err := os.WriteFile(files[i], []byte(lines), 0o600); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		for i := range b.N {
			if out, err := exec.Command(postmap, "-c", dir, "hash:"+files[i]).CombinedOutput(); err != nil {
				b.Fatalf("postmap: %v\n%s", err, out)
			}
		}
		b.ReportMetric(float64(b.N*importSize)/b.Elapsed().Seconds(), "addresses/s")
	})
}
