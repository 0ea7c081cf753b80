package main

// samsa configs: kafka-configs.sh's --describe and --alter (--add-config,
// --delete-config) of topic, broker and group configs, also spelt as
// subcommands (samsa configs describe ...).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samsa-io/samsa/kafka"
)

func init() { extraCommands = append(extraCommands, configsCommand) }

type configsOptions struct {
	conn           connFlags
	entityType     string
	entityName     string
	entityDefault  bool
	topic          string
	broker         string
	brokerDefaults bool
	group          string
	all            bool
	addConfig      string
	addConfigFile  string
	deleteConfig   []string
}

const configsLong = `Describe and change the configs of topics, brokers and groups, with
kafka-configs.sh's flags.

The entity is --entity-type topics|brokers|groups with --entity-name NAME
(or --entity-default for the cluster-wide broker defaults), or one of the
shortcuts --topic NAME, --broker ID, --broker-defaults, --group NAME.

--describe lists the configs set on the entity (its dynamic configs);
--all lists every config with its value, defaults included. Without a name,
every topic, or every broker, is described.

--alter --add-config sets configs: k1=v1,k2=[a,b] (brackets hold a list
value, whose commas are not separators); --add-config-file reads them from a
properties file; --delete-config k1,k2 returns configs to their defaults.
Changes are incremental (IncrementalAlterConfigs): configs not named keep
their values.`

const configsExample = `  samsa configs --describe --entity-type topics --entity-name orders
  samsa configs --describe --topic orders --all
  samsa configs --alter --topic orders --add-config retention.ms=86400000,cleanup.policy=[compact,delete]
  samsa configs --alter --entity-type topics --entity-name orders --delete-config retention.ms
  samsa configs --describe --broker 0 --all
  samsa configs --alter --entity-type brokers --entity-default --add-config log.retention.ms=259200000
  samsa configs --alter --group billing --add-config consumer.heartbeat.interval.ms=10000`

var configsActions = []action{
	{"describe", "describe configs"},
	{"alter", "set or delete configs"},
}

func configsCommand() *cobra.Command {
	var o configsOptions
	cmd := &cobra.Command{
		Use:     "configs",
		Short:   "Describe and change topic, broker and group configs (kafka-configs.sh)",
		Long:    configsLong,
		Example: configsExample,
		Args:    noArgs,
	}
	return actionCommand(cmd, configsActions, func(c *cobra.Command) { addConfigsFlags(c, &o) },
		func(cmd *cobra.Command, act string, _ []string) error { return runConfigs(cmd, act, &o) })
}

func addConfigsFlags(cmd *cobra.Command, o *configsOptions) {
	addConnFlags(cmd, &o.conn)
	f := cmd.Flags()
	f.StringVar(&o.entityType, "entity-type", "", "topics, brokers or groups")
	f.StringVar(&o.entityName, "entity-name", "", "the topic name, broker id or group id")
	f.BoolVar(&o.entityDefault, "entity-default", false, "brokers: the cluster-wide defaults")
	f.StringVar(&o.topic, "topic", "", "same as --entity-type topics --entity-name NAME")
	f.StringVar(&o.broker, "broker", "", "same as --entity-type brokers --entity-name ID")
	f.BoolVar(&o.brokerDefaults, "broker-defaults", false, "same as --entity-type brokers --entity-default")
	f.StringVar(&o.group, "group", "", "same as --entity-type groups --entity-name NAME")
	f.BoolVar(&o.all, "all", false, "describe: every config, defaults included")
	f.StringVar(&o.addConfig, "add-config", "", "alter: configs to set, k1=v1,k2=[a,b]")
	f.StringVar(&o.addConfigFile, "add-config-file", "", "alter: a properties file of configs to set")
	f.StringSliceVar(&o.deleteConfig, "delete-config", nil, "alter: configs to return to their defaults, k1,k2")
}

var configsFlagActions = map[string][]string{
	"all":             {"describe"},
	"add-config":      {"alter"},
	"add-config-file": {"alter"},
	"delete-config":   {"alter"},
}

// entity is what a configs command is about.
type entity struct {
	typ       kafka.ConfigResourceType
	typeName  string // topic, broker, group: for the output
	name      string // "" for every one of the type
	isDefault bool   // the cluster-wide broker defaults
}

// entity resolves --entity-type/--entity-name and the shortcuts.
func (o *configsOptions) entity(cmd *cobra.Command) (entity, error) {
	flags := cmd.Flags()
	var picked []entity
	if flags.Changed("entity-type") {
		e := entity{name: o.entityName, isDefault: o.entityDefault}
		switch strings.ToLower(o.entityType) {
		case "topics", "topic":
			e.typ, e.typeName = kafka.ConfigResourceTopic, "topic"
		case "brokers", "broker":
			e.typ, e.typeName = kafka.ConfigResourceBroker, "broker"
		case "groups", "group":
			e.typ, e.typeName = kafka.ConfigResourceGroup, "group"
		default:
			return entity{}, usagef("--entity-type %q: expected topics, brokers or groups", o.entityType)
		}
		picked = append(picked, e)
	} else if flags.Changed("entity-name") || flags.Changed("entity-default") {
		return entity{}, usagef("--entity-name and --entity-default need --entity-type")
	}
	if flags.Changed("topic") {
		picked = append(picked, entity{typ: kafka.ConfigResourceTopic, typeName: "topic", name: o.topic})
	}
	if flags.Changed("broker") {
		picked = append(picked, entity{typ: kafka.ConfigResourceBroker, typeName: "broker", name: o.broker})
	}
	if o.brokerDefaults {
		picked = append(picked, entity{typ: kafka.ConfigResourceBroker, typeName: "broker", isDefault: true})
	}
	if flags.Changed("group") {
		picked = append(picked, entity{typ: kafka.ConfigResourceGroup, typeName: "group", name: o.group})
	}
	if len(picked) != 1 {
		return entity{}, usagef("exactly one entity is required: --entity-type with --entity-name or --entity-default, or one of --topic, --broker, --broker-defaults, --group")
	}
	e := picked[0]
	switch {
	case e.isDefault && e.name != "":
		return e, usagef("--entity-name and --entity-default cannot be used together")
	case e.isDefault && e.typ != kafka.ConfigResourceBroker:
		return e, usagef("--entity-default is for brokers only")
	case e.typ == kafka.ConfigResourceBroker && e.name != "":
		if _, err := strconv.ParseInt(e.name, 10, 32); err != nil {
			return e, usagef("broker %q: expected a broker id", e.name)
		}
	}
	return e, nil
}

func runConfigs(cmd *cobra.Command, act string, o *configsOptions) error {
	if err := checkFlagsFor(cmd, act, configsFlagActions); err != nil {
		return err
	}
	e, err := o.entity(cmd)
	if err != nil {
		return err
	}
	var ops []kafka.AlterConfigOp
	if act == "alter" {
		if e.name == "" && !e.isDefault {
			return usagef("alter: an entity name is required")
		}
		if ops, err = o.alterOps(); err != nil {
			return err
		}
	}
	adm, err := o.conn.admin(cmd)
	if err != nil {
		return err
	}
	defer adm.Close()
	if act == "alter" {
		return alterConfigs(cmd, adm, e, ops)
	}
	return describeConfigs(cmd.Context(), cmd, adm, e, o.all)
}

// alterOps turns --add-config, --add-config-file and --delete-config into
// incremental changes.
func (o *configsOptions) alterOps() ([]kafka.AlterConfigOp, error) {
	set, err := parseAddConfig(o.addConfig)
	if err != nil {
		return nil, err
	}
	if o.addConfigFile != "" {
		fc, err := kafka.LoadConfig(o.addConfigFile)
		if err != nil {
			return nil, usageErr(fmt.Errorf("--add-config-file: %w", err))
		}
		for k, v := range fc {
			if _, dup := set[k]; dup {
				return nil, usagef("config %s is in both --add-config and --add-config-file", k)
			}
			set[k] = v
		}
	}
	var ops []kafka.AlterConfigOp
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		ops = append(ops, kafka.AlterConfigOp{Name: k, Op: kafka.ConfigSet, Value: set[k]})
	}
	for _, k := range o.deleteConfig {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if _, both := set[k]; both {
			return nil, usagef("config %s is both added and deleted", k)
		}
		ops = append(ops, kafka.AlterConfigOp{Name: k, Op: kafka.ConfigDelete})
	}
	if len(ops) == 0 {
		return nil, usagef("alter: --add-config, --add-config-file or --delete-config is required")
	}
	return ops, nil
}

// parseAddConfig reads k1=v1,k2=[a,b]: commas separate configs except
// inside brackets, which hold a list value (written without them).
func parseAddConfig(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	var items []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '[':
			depth++
		case ']':
			if depth == 0 {
				return nil, usagef("--add-config %q: unbalanced ]", s)
			}
			depth--
		case ',':
			if depth == 0 {
				items = append(items, s[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, usagef("--add-config %q: unbalanced [", s)
	}
	items = append(items, s[start:])
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usagef("--add-config: %q is not key=value", it)
		}
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
			v = v[1 : len(v)-1]
		}
		if _, dup := out[k]; dup {
			return nil, usagef("--add-config: %s given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func (e entity) resource() kafka.ConfigResource {
	return kafka.ConfigResource{Type: e.typ, Name: e.name}
}

// label is how Kafka's output names an entity.
func (e entity) label() string {
	if e.isDefault {
		return "default config for brokers in the cluster"
	}
	return "config for " + e.typeName + " " + e.name
}

func alterConfigs(cmd *cobra.Command, adm *kafka.Admin, e entity, ops []kafka.AlterConfigOp) error {
	r := e.resource()
	res, err := waitingFor(cmd, "altering configs", func() (map[kafka.ConfigResource]error, error) {
		return adm.IncrementalAlterConfigs(cmd.Context(), false, map[kafka.ConfigResource][]kafka.AlterConfigOp{r: ops})
	})
	if err == nil {
		err = res[r]
	}
	if err != nil {
		return fmt.Errorf("altering %s: %w", e.label(), err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Completed updating %s.\n", e.label())
	return nil
}

// dynamicSource is the config source kafka-configs.sh --describe shows
// for an entity type without --all.
func (e entity) dynamicSource() string {
	switch {
	case e.isDefault:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case e.typ == kafka.ConfigResourceBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case e.typ == kafka.ConfigResourceGroup:
		return "GROUP_CONFIG"
	}
	return "DYNAMIC_TOPIC_CONFIG"
}

func describeConfigs(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, e entity, all bool) error {
	entities := []entity{e}
	if e.name == "" && !e.isDefault {
		var err error
		if entities, err = allEntities(ctx, cmd, adm, e); err != nil {
			return err
		}
	}
	if len(entities) == 0 {
		return nil
	}
	resources := make([]kafka.ConfigResource, len(entities))
	for i, x := range entities {
		resources[i] = x.resource()
	}
	results, err := waitingFor(cmd, "describing configs", func() ([]kafka.ConfigResult, error) {
		return adm.DescribeConfigsWith(ctx, kafka.DescribeConfigsOptions{IncludeSynonyms: true}, resources...)
	})
	if err != nil {
		return fmt.Errorf("describe configs: %w", err)
	}
	out := cmd.OutOrStdout()
	var errs []error
	for i, x := range entities {
		if results[i].Err != nil {
			errs = append(errs, fmt.Errorf("describing %s: %w", x.label(), results[i].Err))
			continue
		}
		writeConfigs(out, x, results[i].Entries, all)
	}
	return errors.Join(errs...)
}

// allEntities lists every topic, or every broker, for a describe without
// a name.
func allEntities(ctx context.Context, cmd *cobra.Command, adm *kafka.Admin, e entity) ([]entity, error) {
	var out []entity
	switch e.typ {
	case kafka.ConfigResourceTopic:
		ts, err := matchTopics(ctx, cmd, adm, "", false)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			out = append(out, entity{typ: e.typ, typeName: e.typeName, name: t.Name})
		}
	case kafka.ConfigResourceBroker:
		cl, err := waitingFor(cmd, "describing the cluster", func() (kafka.ClusterDescription, error) { return adm.DescribeCluster(ctx) })
		if err != nil {
			return nil, fmt.Errorf("describe cluster: %w", err)
		}
		for _, n := range cl.Nodes {
			out = append(out, entity{typ: e.typ, typeName: e.typeName, name: strconv.Itoa(int(n.ID))})
		}
	case kafka.ConfigResourceGroup:
		gs, err := waitingFor(cmd, "listing groups", func() ([]kafka.GroupListing, error) { return adm.ListConsumerGroups(ctx) })
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		for _, g := range gs {
			out = append(out, entity{typ: e.typ, typeName: e.typeName, name: g.GroupID})
		}
	}
	return out, nil
}

// writeConfigs prints one entity's configs as kafka-configs.sh does, each
// with its synonym chain (highest precedence first).
func writeConfigs(out io.Writer, e entity, entries []kafka.ConfigEntry, all bool) {
	switch {
	case all && e.isDefault:
		fmt.Fprintln(out, "All default configs for brokers in the cluster are:")
	case all:
		fmt.Fprintf(out, "All configs for %s %s are:\n", e.typeName, e.name)
	case e.isDefault:
		fmt.Fprintln(out, "Default configs for brokers in the cluster are:")
	default:
		fmt.Fprintf(out, "Dynamic configs for %s %s are:\n", e.typeName, e.name)
	}
	for _, c := range entries {
		if !all && c.Source != e.dynamicSource() {
			continue
		}
		v := c.Value
		if c.Sensitive || c.IsNull {
			v = "null"
		}
		syns := make([]string, 0, len(c.Synonyms)+1)
		for _, s := range c.Synonyms {
			sv := s.Value
			if c.Sensitive {
				sv = "null"
			}
			syns = append(syns, s.Source+":"+s.Name+"="+sv)
		}
		if len(syns) == 0 {
			syns = append(syns, c.Source+":"+c.Name+"="+v)
		}
		fmt.Fprintf(out, "  %s=%s sensitive=%t synonyms={%s}\n", c.Name, v, c.Sensitive, strings.Join(syns, ", "))
	}
}
