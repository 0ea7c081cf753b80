package broker

// AlterConfigs, versions 0-2 (KIP-133; v2 is flexible).
//
// The original, non-incremental API: the configs sent replace the
// resource's whole override set, so a config left out goes back to its
// default. Superseded by IncrementalAlterConfigs (KIP-339), which Kafka's
// own tools use. Resources are topics, brokers (dynamic broker configs,
// KIP-226: a node id, or the empty name for the cluster-wide defaults)
// and consumer groups (KIP-848 group configs). The per-resource checks
// are those of Kafka's ConfigAdminManager.preprocess, with its messages;
// applying the new configs is alterTopicConfigs (topics_admin.go),
// alterBrokerConfigs or alterGroupConfigs (dynamic_configs.go).

import (
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AlterConfigs, 0, 2, handleAlterConfigs) }

func handleAlterConfigs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	keys := make([]configResourceKey, len(req.Resources))
	for i, rr := range req.Resources {
		keys[i] = configResourceKey{rr.ResourceType, rr.ResourceName}
	}
	dup := duplicateResources(keys)
	for i := range req.Resources {
		rr := &req.Resources[i]
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if dup[keys[i]] {
			err = errorf(kerr.InvalidRequest, "Each resource must appear at most once.")
		} else {
			names := make([]string, len(rr.Configs))
			var nulls []string
			overrides := make(map[string]string, len(rr.Configs))
			for j, c := range rr.Configs {
				names[j] = c.Name
				if c.Value == nil {
					nulls = append(nulls, c.Name)
				} else {
					overrides[c.Name] = *c.Value
				}
			}
			err = b.checkAlterResource(rr.ResourceType, rr.ResourceName, names, nulls)
			if err == nil {
				err = b.alterConfigResource(rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(map[string]string) (map[string]string, error) {
					return overrides, nil
				})
			}
		}
		res.ErrorCode, res.ErrorMessage = errCode(err)
		if res.ErrorCode == kerr.UnknownServerError.Code {
			b.log.Error("alter configs failed", "resource", rr.ResourceName, "err", err)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

// configResourceKey identifies a resource of an (Incremental)AlterConfigs
// request.
type configResourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// duplicateResources returns the resources named more than once; Kafka
// rejects every occurrence of them.
func duplicateResources(keys []configResourceKey) map[configResourceKey]bool {
	seen := make(map[configResourceKey]int, len(keys))
	for _, k := range keys {
		seen[k]++
	}
	dup := map[configResourceKey]bool{}
	for k, n := range seen {
		if n > 1 {
			dup[k] = true
		}
	}
	return dup
}

// checkAlterResource makes the checks Kafka applies to each resource
// before altering anything (ConfigAdminManager.preprocess): no config
// named twice, no null value where a value is needed, a known resource
// type, for brokers a resource name that is empty or a node id, for
// groups a name.
func (b *Broker) checkAlterResource(typ kmsg.ConfigResourceType, name string, configNames, nullValues []string) error {
	seen := make(map[string]bool, len(configNames))
	for _, n := range configNames {
		if seen[n] {
			return errorf(kerr.InvalidRequest, "Error due to duplicate config keys")
		}
		seen[n] = true
	}
	if len(nullValues) > 0 {
		return errorf(kerr.InvalidRequest, "Null value not supported for : %s", strings.Join(nullValues, ", "))
	}
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return nil
	case kmsg.ConfigResourceTypeBroker:
		if name != "" {
			id, err := strconv.ParseInt(name, 10, 32)
			if err != nil {
				return errorf(kerr.InvalidRequest, "Node id must be an integer, but it is: %s", name)
			}
			if id < 0 {
				return errorf(kerr.InvalidRequest, "Invalid broker name %s", name)
			}
		}
		return nil
	case kmsg.ConfigResourceTypeGroupConfig:
		if name == "" {
			return errorf(kerr.InvalidRequest, "Group name must not be empty")
		}
		return nil
	}
	return errorf(kerr.InvalidRequest, "Unknown resource type %d", typ)
}
