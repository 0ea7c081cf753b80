package broker

// DescribeCluster, versions 0-2 (KIP-700: the cluster view the admin
// client used to get from Metadata).
//
// v1 adds the endpoint type (KIP-919): 1 asks for brokers, which this is;
// 2 asks for controllers, answered MISMATCHED_ENDPOINT_TYPE as a Kafka
// broker does, and anything else UNSUPPORTED_ENDPOINT_TYPE. v2 adds
// include_fenced_brokers (KIP-1073); a broker whose registration expired
// is gone from the metadata rather than fenced, so the flag changes
// nothing. The brokers are every registered broker, the controller the
// broker elected in etcd. Authorized operations are "not requested"
// (-2147483648) since no authorizer runs, as in Metadata.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeCluster, 0, 2, handleDescribeCluster) }

// DescribeCluster endpoint types.
const (
	endpointTypeBroker     = 1
	endpointTypeController = 2
)

func handleDescribeCluster(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType // 1 before v1, as decoded
	resp.ClusterAuthorizedOperations = authorizedOpsUnknown
	resp.ControllerID = -1
	switch req.EndpointType {
	case endpointTypeBroker:
	case endpointTypeController:
		resp.ErrorCode, resp.ErrorMessage = errCode(errorf(kerr.MismatchedEndpointType,
			"The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER"))
		return resp, nil
	default:
		resp.ErrorCode, resp.ErrorMessage = errCode(errorf(kerr.UnsupportedEndpointType,
			"unsupported endpoint type %d", req.EndpointType))
		return resp, nil
	}
	snap := b.snapshot()
	resp.ClusterID = b.clusterID
	resp.ControllerID = snap.Controller.ID
	for _, id := range snap.BrokerIDs() {
		// One listener per broker is advertised to clients, as in
		// Metadata.
		if ep, ok := b.clientEndpoint(snap, id); ok {
			resp.Brokers = append(resp.Brokers, kmsg.DescribeClusterResponseBroker{
				NodeID: id, Host: ep.Host, Port: ep.Port, Rack: rackOf(snap.Brokers[id]),
			})
		}
	}
	return resp, nil
}
