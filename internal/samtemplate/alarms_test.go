package samtemplate_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/passport-oss/passport/internal/samtemplate"
)

// The template alarms on the four things on-call must hear about, each on
// AWS's own metric of the right resource, and notifies AlarmTopicArn only
// when one is given (docs/operations.md says what to do for each).
func TestTemplateAlarms(t *testing.T) {
	tpl, err := samtemplate.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ref := func(id string) samtemplate.Intrinsic { return samtemplate.Intrinsic{Fn: "Ref", Args: id} }
	want := map[string]struct {
		namespace, metric, dimension string
		value                        any
		statistic, comparison        string
		threshold                    any
	}{
		"ApiServerErrorRateAlarm":     {"AWS/ApiGateway", "5xx", "ApiId", ref("PassportHttpApi"), "Average", "GreaterThanThreshold", 0.05},
		"AuditFunctionErrorsAlarm":    {"AWS/Lambda", "Errors", "FunctionName", ref("AuditStreamFunction"), "Sum", "GreaterThanThreshold", 0},
		"AuditStreamIteratorAgeAlarm": {"AWS/Lambda", "IteratorAge", "FunctionName", ref("AuditStreamFunction"), "Maximum", "GreaterThanThreshold", 60000},
		"AuditFailureQueueAlarm": {"AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
			samtemplate.Intrinsic{Fn: "Fn::GetAtt", Args: []any{"AuditFailureQueue", "QueueName"}}, "Maximum", "GreaterThanThreshold", 0},
	}
	var got []string
	for id, r := range tpl.Resources {
		if r.Type == "AWS::CloudWatch::Alarm" {
			got = append(got, id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("alarms %v, want %d", got, len(want))
	}
	topic := samtemplate.Intrinsic{Fn: "Fn::If", Args: []any{"HasAlarmTopic", []any{ref("AlarmTopicArn")}, ref("AWS::NoValue")}}
	for id, w := range want {
		p := tpl.Resources[id].Properties
		if p == nil {
			t.Errorf("no alarm %s", id)
			continue
		}
		dims := []any{map[string]any{"Name": w.dimension, "Value": w.value}}
		checks := map[string][2]any{
			"Namespace":          {p["Namespace"], w.namespace},
			"MetricName":         {p["MetricName"], w.metric},
			"Dimensions":         {p["Dimensions"], dims},
			"Statistic":          {p["Statistic"], w.statistic},
			"ComparisonOperator": {p["ComparisonOperator"], w.comparison},
			"Threshold":          {p["Threshold"], w.threshold},
			"TreatMissingData":   {p["TreatMissingData"], "notBreaching"},
			"AlarmActions":       {p["AlarmActions"], topic},
			"OKActions":          {p["OKActions"], topic},
		}
		for name, c := range checks {
			if !reflect.DeepEqual(c[0], c[1]) {
				t.Errorf("%s.%s = %s, want %s", id, name, show(c[0]), show(c[1]))
			}
		}
	}
	if d, ok := tpl.ParameterDefault("AlarmTopicArn"); !ok || d != "" {
		t.Errorf("AlarmTopicArn default = %q, %v; want empty (no notifications unless asked)", d, ok)
	}
}

func show(v any) string { return fmt.Sprintf("%#v", v) }
