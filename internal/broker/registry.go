package broker

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc serves one decoded request. A nil response sends nothing
// (acks=0 produce); an error closes the connection.
type handlerFunc func(b *Broker, r *request) (kmsg.Response, error)

// handler is a registered API: the versions served and the function.
type handler struct {
	key      int16
	min, max int16
	fn       handlerFunc
}

// handlers is filled by each API's file at init; ApiVersions is built from
// it, so what is advertised is exactly what is served.
var handlers = map[int16]handler{}

func register(k kmsg.Key, min, max int16, fn handlerFunc) {
	key := int16(k)
	if _, dup := handlers[key]; dup {
		panic("broker: API registered twice: " + kmsg.NameForKey(key))
	}
	if req := kmsg.RequestForKey(key); req == nil || req.MaxVersion() < max {
		panic("broker: kmsg cannot decode " + kmsg.NameForKey(key) + " at the registered versions")
	}
	handlers[key] = handler{key: key, min: min, max: max, fn: fn}
}

// apiKeys lists the registered APIs in key order.
func apiKeys() []handler {
	out := make([]handler, 0, len(handlers))
	for _, h := range handlers {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
