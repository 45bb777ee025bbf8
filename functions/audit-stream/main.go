// Command audit-stream is the Lambda function AuditStreamFunction: it reads
// the table's stream and writes one audit entry per provider or
// authorization change (see internal/audit).
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAuditFunction() }
