package api

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeletesLeaveNoDangling: an object another uses cannot be deleted
// alone (409 in_use, naming the user), and after every delete the API
// allows, every read route of the cluster answers without a 5xx, for
// every object id it ever had. A click host deleted before this rule (an
// old database) does not break its sending domain either.
func TestDeletesLeaveNoDangling(t *testing.T) {
	e := newEnv(t, "sqlite")
	clusterID, key := e.cluster("acme")
	ids := map[string][]string{} // route segment -> ids ever made
	add := func(kind, id string) { ids[kind] = append(ids[kind], id) }
	readAll := func(step string) {
		t.Helper()
		for _, rt := range routes {
			if rt.method != "GET" || rt.access != anyKey {
				continue
			}
			paths := []string{rt.path}
			if strings.Contains(rt.path, "{id}") {
				paths = nil
				kind := strings.Split(rt.path, "/")[2]
				for _, id := range append(ids[kind], "nonexistent") {
					paths = append(paths, strings.Replace(rt.path, "{id}", id, 1))
				}
			}
			for _, p := range paths {
				if r := e.do("GET", p, key, nil); r.Code >= 500 {
					t.Errorf("after %s: GET %s: %d %s", step, p, r.Code, r.Raw)
				}
			}
		}
		for _, p := range []string{"/v1/sending-domains/%s/verify"} {
			for _, id := range ids["sending-domains"] {
				if r := e.do("POST", strings.Replace(p, "%s", id, 1), key, nil); r.Code >= 500 {
					t.Errorf("after %s: POST %s: %d %s", step, strings.Replace(p, "%s", id, 1), r.Code, r.Raw)
				}
			}
		}
	}
	refused := func(step, path, user string) {
		t.Helper()
		r := e.do("DELETE", path, key, nil)
		if r.Code != 409 || r.errCode() != "in_use" || !strings.Contains(r.Body["error"].(map[string]any)["message"].(string), user) {
			t.Fatalf("%s: DELETE %s: %d %s; want 409 in_use naming %q", step, path, r.Code, r.Raw, user)
		}
		readAll(step)
	}
	deleted := func(step, path string) {
		t.Helper()
		if r := e.do("DELETE", path, key, nil); r.Code != 204 {
			t.Fatalf("%s: DELETE %s: %d %s", step, path, r.Code, r.Raw)
		}
		readAll(step)
	}

	track := e.domainID(key, "track.acme-mail.com")
	e.activate(clusterID, track)
	if r := e.do("PUT", "/v1/tracking-domains/"+track+"/default", key, nil); r.Code != 200 {
		t.Fatalf("default: %d %s", r.Code, r.Raw)
	}
	links := e.domainID(key, "links.acme-mail.com")
	add("tracking-domains", track)
	add("tracking-domains", links)
	r := e.do("POST", "/v1/sending-domains", key, map[string]any{"name": "acme-mail.com"})
	if r.Code != 201 {
		t.Fatalf("sending domain: %d %s", r.Code, r.Raw)
	}
	sd, click := r.str("id"), r.str("click_domain_id")
	add("sending-domains", sd)
	add("tracking-domains", click)
	ds := e.do("POST", "/v1/delivery-servers", key, map[string]any{"name": "mta1", "url": "smtp://mta1.example.net:25", "tracking_domain_id": links}).str("id")
	add("delivery-servers", ds)
	wh := e.do("POST", "/v1/webhooks", key, map[string]any{"url": "https://hooks.acme.example/w", "events": []string{"*"}}).str("id")
	add("webhooks", wh)
	readAll("setup")

	refused("the click host", "/v1/tracking-domains/"+click, "click host of sending domain acme-mail.com; delete the sending domain acme-mail.com, which removes its click host with it")
	refused("the click host by name", "/v1/tracking-domains/clicks.acme-mail.com", "click host of sending domain acme-mail.com")
	refused("a delivery server's tracking domain", "/v1/tracking-domains/"+links, "tracking domain of delivery server mta1; delete the delivery server mta1 first")
	deleted("the delivery server", "/v1/delivery-servers/"+ds)
	deleted("its tracking domain", "/v1/tracking-domains/"+links)
	if r := e.do("DELETE", "/v1/tracking-domains/"+track+"/default", key, nil); r.Code != 200 {
		t.Fatalf("unset default: %d %s", r.Code, r.Raw)
	}
	readAll("unset default")
	deleted("the former default", "/v1/tracking-domains/"+track)

	// A delivery server on the click host holds the sending domain too.
	ds2 := e.do("POST", "/v1/delivery-servers", key, map[string]any{"name": "mta2", "url": "smtp://mta2.example.net:25", "tracking_domain_id": click}).str("id")
	add("delivery-servers", ds2)
	refused("a sending domain whose click host a delivery server uses", "/v1/sending-domains/"+sd, "delivery server mta2")
	deleted("that delivery server", "/v1/delivery-servers/"+ds2)
	deleted("the sending domain", "/v1/sending-domains/"+sd)
	deleted("the webhook", "/v1/webhooks/"+wh)

	// An old database: a click host deleted before deletes were checked.
	r = e.do("POST", "/v1/sending-domains", key, map[string]any{"name": "bravo-mail.com"})
	sd2, click2 := r.str("id"), r.str("click_domain_id")
	add("sending-domains", sd2)
	if err := e.store.DeleteTrackingDomain(context.Background(), clusterID, click2, nil); err == nil {
		t.Fatal("the store deleted a click host")
	}
	dropRow(t, e.dir, "tracking_domains", click2)
	readAll("a click host lost in an old database")
	if r := e.do("GET", "/v1/sending-domains/"+sd2, key, nil); r.Code != 200 || !strings.Contains(r.Raw, "tracking domain was deleted") {
		t.Fatalf("sending domain with a lost click host: %d %s", r.Code, r.Raw)
	}
	deleted("the sending domain with the lost click host", "/v1/sending-domains/"+sd2)
}

// dropRow deletes a row behind the store's back, as a database made by an
// older waymark may lack it.
func dropRow(t *testing.T, dir, table, id string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "waymark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res, err := db.Exec("DELETE FROM "+table+" WHERE id = ?", id); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s %s: %d rows", table, id, n)
	}
}
