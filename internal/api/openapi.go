package api

import (
	_ "embed"
	"net/http"
)

// openapiDoc is the OpenAPI 3 description of every route in the routes
// table; TestOpenAPIMatchesRoutes keeps the two in step.
//
//go:embed openapi.json
var openapiDoc []byte

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request, _ principal) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiDoc)
}
