// Command list-audit is the Lambda function ListAuditFunction, serving GET /api/v1/passport/audit.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("ListAuditFunction") }
