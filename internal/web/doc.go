// Package web is the dashboard: server-rendered pages (html/template,
// assets embedded) for operators and customers, on the API's port. Every
// action goes through the REST API handler itself, in process, with the
// signed-in key: the dashboard has no business rules of its own.
package web
