package broker

// IncrementalAlterConfigs, versions 0-1 (KIP-339; v1 is flexible).
//
// Each config names an operation: SET an override, DELETE it (back to the
// default), or APPEND to / SUBTRACT from a list config's elements, of a
// topic, a broker (dynamic broker configs, KIP-226: a node id, or the
// empty name for the cluster-wide defaults) or a consumer group (KIP-848
// group configs). Resource checks are shared with AlterConfigs
// (checkAlterResource); the operations follow Kafka's
// ConfigurationControlManager, including its messages. The new configs
// are validated as a whole and applied by alterTopicConfigs
// (topics_admin.go), alterBrokerConfigs or alterGroupConfigs
// (dynamic_configs.go), which persist them with a compare-and-swap.

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/config"
)

func init() { register(kmsg.IncrementalAlterConfigs, 0, 1, handleIncrementalAlterConfigs) }

func handleIncrementalAlterConfigs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	keys := make([]configResourceKey, len(req.Resources))
	for i, rr := range req.Resources {
		keys[i] = configResourceKey{rr.ResourceType, rr.ResourceName}
	}
	dup := duplicateResources(keys)
	for i := range req.Resources {
		rr := &req.Resources[i]
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if dup[keys[i]] {
			err = errorf(kerr.InvalidRequest, "Each resource must appear at most once.")
		} else {
			names := make([]string, len(rr.Configs))
			var nulls []string
			for j, c := range rr.Configs {
				names[j] = c.Name
				// Only DELETE may leave the value out.
				if c.Value == nil && c.Op != kmsg.IncrementalAlterConfigOpDelete {
					nulls = append(nulls, c.Name)
				}
			}
			err = b.checkAlterResource(rr.ResourceType, rr.ResourceName, names, nulls)
			if err == nil {
				lookup := configDefFor(rr.ResourceType)
				err = b.alterConfigResource(rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(cur map[string]string) (map[string]string, error) {
					return applyConfigOps(cur, rr.Configs, lookup)
				})
			}
		}
		res.ErrorCode, res.ErrorMessage = errCode(err)
		if res.ErrorCode == kerr.UnknownServerError.Code {
			b.log.Error("incremental alter configs failed", "resource", rr.ResourceName, "err", err)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

// applyConfigOps applies a resource's operations to its current configs
// (which it may modify) and returns the result; lookup finds each
// config's definition. Values are validated afterwards, all together.
func applyConfigOps(overrides map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, lookup func(string) (*config.Def, error)) (map[string]string, error) {
	if overrides == nil {
		overrides = map[string]string{}
	}
	for _, op := range ops {
		d, err := lookup(op.Name)
		if err != nil {
			return nil, err
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			overrides[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(overrides, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if d.Type != config.List {
				return nil, errorf(kerr.InvalidConfig, "Can't %s to key %s because its type is not LIST.", op.Op, op.Name)
			}
			// Like Kafka, start from the override, or else from the
			// config's built-in default (not the broker's log.* value).
			cur, ok := overrides[op.Name]
			if !ok {
				cur = d.Default
			}
			elems := config.SplitList(cur)
			for _, e := range config.SplitList(*op.Value) {
				if op.Op == kmsg.IncrementalAlterConfigOpAppend {
					if !slices.Contains(elems, e) {
						elems = append(elems, e)
					}
				} else {
					elems = slices.DeleteFunc(elems, func(x string) bool { return x == e })
				}
			}
			overrides[op.Name] = strings.Join(elems, ",")
		default:
			return nil, errorf(kerr.InvalidRequest, "Unknown operations type %d", op.Op)
		}
	}
	return overrides, nil
}
