package broker

// ApiVersions, versions 0-4 (KIP-35; KIP-511 adds client software name and
// version in v3, which is accepted and ignored).
//
// The key list is built from the handler registry, so every API advertised
// is one this broker serves, at exactly the versions it decodes. A request
// at a version above 4 is answered at v0 with UNSUPPORTED_VERSION (conn.go),
// letting the client retry at a version both sides know.
//
// v3+ also lists the features (KIP-584) the broker supports and the
// levels finalized for the cluster: transaction.version 2, transactions
// v2 (KIP-890 part 2), with which clients add partitions by producing
// (Produce v12+) and offsets by committing them (TxnOffsetCommit v5+),
// and every EndTxn (v5+) bumps the producer epoch. Every broker of a
// cluster runs the same code, so each finalizes the same levels.

import "github.com/twmb/franz-go/pkg/kmsg"

// feature is a feature flag (KIP-584): the levels supported, and the one
// finalized.
type feature struct {
	name           string
	min, max       int16
	finalizedLevel int16
}

// features lists the features advertised. transaction.version 0 and 1
// are transactions v1 (1 adds nothing a client sees), 2 transactions v2.
var features = []feature{
	{name: "transaction.version", min: 0, max: 2, finalizedLevel: 2},
}

// finalizedFeaturesEpoch versions the finalized levels; they never change
// while a broker runs.
const finalizedFeaturesEpoch = 1

func init() { register(kmsg.ApiVersions, 0, 4, handleApiVersions) }

func handleApiVersions(b *Broker, r *request) (kmsg.Response, error) {
	resp := r.body.ResponseKind().(*kmsg.ApiVersionsResponse)
	fillApiKeys(resp)
	fillFeatures(resp)
	return resp, nil
}

// fillFeatures lists the supported and finalized features (v3+; older
// versions do not encode them).
func fillFeatures(resp *kmsg.ApiVersionsResponse) {
	resp.FinalizedFeaturesEpoch = finalizedFeaturesEpoch
	for _, f := range features {
		resp.SupportedFeatures = append(resp.SupportedFeatures, kmsg.ApiVersionsResponseSupportedFeature{
			Name: f.name, MinVersion: f.min, MaxVersion: f.max,
		})
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, kmsg.ApiVersionsResponseFinalizedFeature{
			Name: f.name, MinVersionLevel: f.finalizedLevel, MaxVersionLevel: f.finalizedLevel,
		})
	}
}

func fillApiKeys(resp *kmsg.ApiVersionsResponse) {
	for _, h := range apiKeys() {
		resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{
			ApiKey: h.key, MinVersion: h.min, MaxVersion: h.max,
		})
	}
}
