// Command read-token is the Lambda function ReadTokenFunction, serving
// GET /api/v1/passport/authorizations/{id}/token: the audited token read.
package main

import "github.com/passport-oss/passport/internal/app"

func main() { app.StartAPIFunction("ReadTokenFunction") }
