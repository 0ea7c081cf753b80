package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"net"
)

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// Option sets something that does not fit a Config string: a logger, a
// custom partitioner, interceptors, a dialer.
type Option interface{ apply(*options) }

type options struct {
	logger       *slog.Logger
	partitioner  Partitioner
	interceptors any // []ProducerInterceptor[K, V], checked by NewProducer
	consumerICs  any // []ConsumerInterceptor[K, V], checked by NewConsumer
	assignors    []PartitionAssignor
	dial         dialFunc
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLogger sets the logger; the default is slog.Default(). The producer
// logs connection failures and idempotence changes at warn, and little
// else.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithPartitioner sets a custom partitioner for records that do not name
// a partition, in place of the built-in one (the Java partitioner.class
// setting). It is closed when the producer closes.
func WithPartitioner(p Partitioner) Option {
	return optionFunc(func(o *options) { o.partitioner = p })
}

// WithInterceptors adds interceptors, called in order (the Java
// interceptor.classes setting). Their types must match the producer's.
func WithInterceptors[K, V any](ics ...ProducerInterceptor[K, V]) Option {
	return optionFunc(func(o *options) {
		prev, _ := o.interceptors.([]ProducerInterceptor[K, V])
		o.interceptors = append(prev, ics...)
	})
}

// WithConsumerInterceptors adds consumer interceptors, called in order
// (the Java interceptor.classes setting of a consumer). Their types must
// match the consumer's.
func WithConsumerInterceptors[K, V any](ics ...ConsumerInterceptor[K, V]) Option {
	return optionFunc(func(o *options) {
		prev, _ := o.consumerICs.([]ConsumerInterceptor[K, V])
		o.consumerICs = append(prev, ics...)
	})
}

// interceptorsOf unpacks the interceptors an option stored (nil if none):
// they must be of the client's type, named want, and none nil.
func interceptorsOf[T any](v any, want string) ([]T, error) {
	if v == nil {
		return nil, nil
	}
	ics, ok := v.([]T)
	if !ok {
		return nil, configErr("interceptor.classes", fmt.Sprintf("%T", v), "interceptors must be "+want)
	}
	for _, ic := range ics {
		if any(ic) == nil {
			return nil, configErr("interceptor.classes", "", "one of the interceptors given is nil")
		}
	}
	return ics, nil
}

// WithDialer sets how TCP connections to brokers are made, for example
// through a proxy; the default is a net.Dialer.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return optionFunc(func(o *options) { o.dial = dial })
}
