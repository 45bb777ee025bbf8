package samtemplate

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TableDefinition builds the CreateTable and UpdateTimeToLive inputs for the
// template's AWS::DynamoDB::Table (the design has exactly one; zero or
// several is an error), named tableName. It carries the attribute
// definitions, key schema, global and local secondary indexes and stream
// specification; billing is always PAY_PER_REQUEST. SSE, point-in-time
// recovery and tags are not carried (they mean nothing to a local table).
// The UpdateTimeToLiveInput is nil when the table has no enabled
// TimeToLiveSpecification.
func (t *Template) TableDefinition(tableName string) (*dynamodb.CreateTableInput, *dynamodb.UpdateTimeToLiveInput, error) {
	var tables []Resource
	for _, id := range sortedKeys(t.Resources) {
		if r := t.Resources[id]; r.Type == TypeTable {
			tables = append(tables, r)
		}
	}
	if len(tables) != 1 {
		return nil, nil, fmt.Errorf("samtemplate: want exactly one %s, found %d", TypeTable, len(tables))
	}
	r := tables[0]
	p, where := r.Properties, r.ID

	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(tableName),
		BillingMode: types.BillingModePayPerRequest,
	}

	defs, err := optList(p, "AttributeDefinitions", where)
	if err != nil {
		return nil, nil, err
	}
	for i, d := range defs {
		w := fmt.Sprintf("%s.AttributeDefinitions[%d]", where, i)
		dm, ok := d.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("samtemplate: %s is not a mapping", w)
		}
		name, err := reqString(dm, "AttributeName", w)
		if err != nil {
			return nil, nil, err
		}
		typ, err := reqString(dm, "AttributeType", w)
		if err != nil {
			return nil, nil, err
		}
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(name),
			AttributeType: types.ScalarAttributeType(typ),
		})
	}
	if len(in.AttributeDefinitions) == 0 {
		return nil, nil, fmt.Errorf("samtemplate: %s has no AttributeDefinitions", where)
	}

	if in.KeySchema, err = keySchema(p, where); err != nil {
		return nil, nil, err
	}
	if len(in.KeySchema) == 0 {
		return nil, nil, fmt.Errorf("samtemplate: %s has no KeySchema", where)
	}

	gsis, err := optList(p, "GlobalSecondaryIndexes", where)
	if err != nil {
		return nil, nil, err
	}
	for i, g := range gsis {
		w := fmt.Sprintf("%s.GlobalSecondaryIndexes[%d]", where, i)
		name, ks, proj, err := index(g, w)
		if err != nil {
			return nil, nil, err
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(name), KeySchema: ks, Projection: proj,
		})
	}
	lsis, err := optList(p, "LocalSecondaryIndexes", where)
	if err != nil {
		return nil, nil, err
	}
	for i, l := range lsis {
		w := fmt.Sprintf("%s.LocalSecondaryIndexes[%d]", where, i)
		name, ks, proj, err := index(l, w)
		if err != nil {
			return nil, nil, err
		}
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName: aws.String(name), KeySchema: ks, Projection: proj,
		})
	}

	stream, err := optMap(p, "StreamSpecification", where)
	if err != nil {
		return nil, nil, err
	}
	if stream != nil {
		view, err := reqString(stream, "StreamViewType", where+".StreamSpecification")
		if err != nil {
			return nil, nil, err
		}
		in.StreamSpecification = &types.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: types.StreamViewType(view),
		}
	}

	var ttl *dynamodb.UpdateTimeToLiveInput
	ttlSpec, err := optMap(p, "TimeToLiveSpecification", where)
	if err != nil {
		return nil, nil, err
	}
	if ttlSpec != nil {
		w := where + ".TimeToLiveSpecification"
		enabled, _, err := optBool(ttlSpec, "Enabled", w)
		if err != nil {
			return nil, nil, err
		}
		if enabled {
			attr, err := reqString(ttlSpec, "AttributeName", w)
			if err != nil {
				return nil, nil, err
			}
			ttl = &dynamodb.UpdateTimeToLiveInput{
				TableName: aws.String(tableName),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{
					AttributeName: aws.String(attr),
					Enabled:       aws.Bool(true),
				},
			}
		}
	}
	return in, ttl, nil
}

func keySchema(m map[string]any, where string) ([]types.KeySchemaElement, error) {
	list, err := optList(m, "KeySchema", where)
	if err != nil {
		return nil, err
	}
	var out []types.KeySchemaElement
	for i, k := range list {
		w := fmt.Sprintf("%s.KeySchema[%d]", where, i)
		km, ok := k.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("samtemplate: %s is not a mapping", w)
		}
		name, err := reqString(km, "AttributeName", w)
		if err != nil {
			return nil, err
		}
		kt, err := reqString(km, "KeyType", w)
		if err != nil {
			return nil, err
		}
		out = append(out, types.KeySchemaElement{AttributeName: aws.String(name), KeyType: types.KeyType(kt)})
	}
	return out, nil
}

func index(v any, where string) (string, []types.KeySchemaElement, *types.Projection, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", nil, nil, fmt.Errorf("samtemplate: %s is not a mapping", where)
	}
	name, err := reqString(m, "IndexName", where)
	if err != nil {
		return "", nil, nil, err
	}
	ks, err := keySchema(m, where)
	if err != nil {
		return "", nil, nil, err
	}
	if len(ks) == 0 {
		return "", nil, nil, fmt.Errorf("samtemplate: %s has no KeySchema", where)
	}
	pm, err := optMap(m, "Projection", where)
	if err != nil {
		return "", nil, nil, err
	}
	proj := &types.Projection{ProjectionType: types.ProjectionTypeAll}
	if pm != nil {
		pt, ok, err := optString(pm, "ProjectionType", where+".Projection")
		if err != nil {
			return "", nil, nil, err
		}
		if ok {
			proj.ProjectionType = types.ProjectionType(pt)
		}
		attrs, err := optList(pm, "NonKeyAttributes", where+".Projection")
		if err != nil {
			return "", nil, nil, err
		}
		for _, a := range attrs {
			s, ok := a.(string)
			if !ok {
				return "", nil, nil, fmt.Errorf("samtemplate: %s.Projection.NonKeyAttributes holds a non-string", where)
			}
			proj.NonKeyAttributes = append(proj.NonKeyAttributes, s)
		}
	}
	return name, ks, proj, nil
}

// StreamMapping is a function's DynamoDB stream event source mapping, with
// Lambda's defaults filled in for unset properties.
type StreamMapping struct {
	// Table is the logical ID of the table whose stream feeds the function
	// (Stream: !GetAtt <Table>.StreamArn).
	Table string
	// StartingPosition is TRIM_HORIZON or LATEST.
	StartingPosition string
	// BatchSize defaults to 100.
	BatchSize int
	// MaximumBatchingWindow defaults to 0.
	MaximumBatchingWindow time.Duration
	// MaximumRetryAttempts is -1 (retry until the record expires) when unset.
	MaximumRetryAttempts int
	// MaximumRecordAge is -1 (no limit) when unset.
	MaximumRecordAge time.Duration
	// BisectOnError is BisectBatchOnFunctionError.
	BisectOnError bool
	// ReportBatchItemFailures is set when FunctionResponseTypes holds
	// ReportBatchItemFailures.
	ReportBatchItemFailures bool
	// OnFailureDestination is the logical ID of the DestinationConfig
	// OnFailure target (!GetAtt <Queue>.Arn), or "" when there is none.
	OnFailureDestination string
	// FilterPatterns are the raw JSON strings of FilterCriteria.Filters[].Pattern;
	// a record is delivered when any one matches (none: every record).
	FilterPatterns []string
}

// StreamMapping returns the single DynamoDB event of the given function.
func (t *Template) StreamMapping(functionID string) (StreamMapping, error) {
	r, ok := t.Resources[functionID]
	if !ok || r.Type != TypeFunction {
		return StreamMapping{}, fmt.Errorf("samtemplate: no %s %q", TypeFunction, functionID)
	}
	events, err := t.events(functionID)
	if err != nil {
		return StreamMapping{}, err
	}
	var name string
	for _, n := range sortedKeys(events) {
		if events[n].typ == "DynamoDB" {
			if name != "" {
				return StreamMapping{}, fmt.Errorf("samtemplate: %s has more than one DynamoDB event", functionID)
			}
			name = n
		}
	}
	if name == "" {
		return StreamMapping{}, fmt.Errorf("samtemplate: %s has no DynamoDB event", functionID)
	}
	p, where := events[name].props, functionID+".Events."+name

	sm := StreamMapping{BatchSize: 100, MaximumRetryAttempts: -1, MaximumRecordAge: -1}

	in, ok := p["Stream"].(Intrinsic)
	if !ok {
		return StreamMapping{}, fmt.Errorf("samtemplate: %s.Stream must be !GetAtt <Table>.StreamArn", where)
	}
	table, attr, ok := in.GetAtt()
	if !ok || attr != "StreamArn" {
		return StreamMapping{}, fmt.Errorf("samtemplate: %s.Stream must be !GetAtt <Table>.StreamArn, got %s", where, in)
	}
	if tr, ok := t.Resources[table]; !ok || tr.Type != TypeTable {
		return StreamMapping{}, fmt.Errorf("samtemplate: %s.Stream: %s is not a %s", where, table, TypeTable)
	}
	sm.Table = table

	if sm.StartingPosition, err = reqString(p, "StartingPosition", where); err != nil {
		return StreamMapping{}, err
	}
	if n, ok, err := optInt(p, "BatchSize", where); err != nil {
		return StreamMapping{}, err
	} else if ok {
		sm.BatchSize = n
	}
	if n, _, err := optInt(p, "MaximumBatchingWindowInSeconds", where); err != nil {
		return StreamMapping{}, err
	} else {
		sm.MaximumBatchingWindow = time.Duration(n) * time.Second
	}
	if n, ok, err := optInt(p, "MaximumRetryAttempts", where); err != nil {
		return StreamMapping{}, err
	} else if ok {
		sm.MaximumRetryAttempts = n
	}
	if n, ok, err := optInt(p, "MaximumRecordAgeInSeconds", where); err != nil {
		return StreamMapping{}, err
	} else if ok && n >= 0 {
		sm.MaximumRecordAge = time.Duration(n) * time.Second
	}
	if sm.BisectOnError, _, err = optBool(p, "BisectBatchOnFunctionError", where); err != nil {
		return StreamMapping{}, err
	}
	responseTypes, err := optList(p, "FunctionResponseTypes", where)
	if err != nil {
		return StreamMapping{}, err
	}
	for _, rt := range responseTypes {
		if rt == "ReportBatchItemFailures" {
			sm.ReportBatchItemFailures = true
		}
	}

	dc, err := optMap(p, "DestinationConfig", where)
	if err != nil {
		return StreamMapping{}, err
	}
	onFailure, err := optMap(dc, "OnFailure", where+".DestinationConfig")
	if err != nil {
		return StreamMapping{}, err
	}
	if dest, ok := onFailure["Destination"]; ok {
		in, _ := dest.(Intrinsic)
		res, attr, ok := in.GetAtt()
		if !ok || attr != "Arn" {
			return StreamMapping{}, fmt.Errorf("samtemplate: %s.DestinationConfig.OnFailure.Destination must be !GetAtt <Resource>.Arn", where)
		}
		sm.OnFailureDestination = res
	}

	fc, err := optMap(p, "FilterCriteria", where)
	if err != nil {
		return StreamMapping{}, err
	}
	filters, err := optList(fc, "Filters", where+".FilterCriteria")
	if err != nil {
		return StreamMapping{}, err
	}
	for i, f := range filters {
		w := fmt.Sprintf("%s.FilterCriteria.Filters[%d]", where, i)
		fm, ok := f.(map[string]any)
		if !ok {
			return StreamMapping{}, fmt.Errorf("samtemplate: %s is not a mapping", w)
		}
		pattern, err := reqString(fm, "Pattern", w)
		if err != nil {
			return StreamMapping{}, err
		}
		if !json.Valid([]byte(pattern)) {
			return StreamMapping{}, fmt.Errorf("samtemplate: %s.Pattern is not valid JSON", w)
		}
		sm.FilterPatterns = append(sm.FilterPatterns, pattern)
	}
	return sm, nil
}

func reqString(m map[string]any, key, where string) (string, error) {
	s, ok, err := optString(m, key, where)
	if err != nil {
		return "", err
	}
	if !ok || s == "" {
		return "", fmt.Errorf("samtemplate: %s.%s is required", where, key)
	}
	return s, nil
}

func optList(m map[string]any, key, where string) ([]any, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("samtemplate: %s.%s is not a list (got %v)", where, key, v)
	}
	return l, nil
}
