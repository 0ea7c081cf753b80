package broker

// ApiVersions, versions 0-4 (KIP-35; KIP-511 adds client software name and
// version in v3, which is accepted and ignored).
//
// The key list is built from the handler registry, so every API advertised
// is one this broker serves, at exactly the versions it decodes. A request
// at a version above 4 is answered at v0 with UNSUPPORTED_VERSION (conn.go),
// letting the client retry at a version both sides know.

import "github.com/twmb/franz-go/pkg/kmsg"

func init() { register(kmsg.ApiVersions, 0, 4, handleApiVersions) }

func handleApiVersions(b *Broker, r *request) (kmsg.Response, error) {
	resp := r.body.ResponseKind().(*kmsg.ApiVersionsResponse)
	fillApiKeys(resp)
	return resp, nil
}

func fillApiKeys(resp *kmsg.ApiVersionsResponse) {
	for _, h := range apiKeys() {
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{
			ApiKey: h.key, MinVersion: h.min, MaxVersion: h.max,
		})
	}
}
