"""Print the security SAM gives each HTTP API route of a template.

usage: python3 sam_route_security.py TEMPLATE PARAMS_JSON

Resolves parameter Refs and Fn::If on parameter conditions first, as
AWS::LanguageExtensions does before the SAM transform, then runs the SAM
translator (the samtranslator package cfn-lint ships with) and prints
{"<METHOD> <path>" | "$default": {"authorizer": name, "scopes": [...]}} from
the OpenAPI body it generates. TestRouteAuthsMatchSAM compares this with
samtemplate.RouteAuths.
"""
import json
import os
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

path, params = sys.argv[1], json.loads(sys.argv[2]) or {}
tpl, errors = decode(path)
if errors:
    sys.exit("decode: %s" % errors)

values = {}
for name, p in tpl.get("Parameters", {}).items():
    v = params.get(name, p.get("Default"))
    if p.get("Type") == "CommaDelimitedList" and isinstance(v, str):
        v = [e.strip() for e in v.split(",")]
    values[name] = v


def condition(expr):
    (fn, args), = expr.items()
    if fn == "Fn::Equals":
        return resolve(args[0]) == resolve(args[1])
    if fn == "Fn::Not":
        return not condition(args[0])
    if fn == "Fn::And":
        return all(condition(a) for a in args)
    if fn == "Fn::Or":
        return any(condition(a) for a in args)
    if fn == "Condition":
        return condition(tpl["Conditions"][args])
    raise ValueError("condition %r" % expr)


NO_VALUE = object()


def resolve(v):
    if isinstance(v, dict):
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref" and a == "AWS::NoValue":
                return NO_VALUE
            if k == "Ref" and a in values:
                return values[a]
            if k == "Fn::If":
                return resolve(a[1] if condition(tpl["Conditions"][a[0]]) else a[2])
        out = {k: resolve(e) for k, e in v.items()}
        return {k: e for k, e in out.items() if e is not NO_VALUE}
    if isinstance(v, list):
        return [e for e in (resolve(e) for e in v) if e is not NO_VALUE]
    return v


doc = {k: (v if k in ("Parameters", "Conditions", "Rules") else resolve(v)) for k, v in tpl.items()}
doc["Transform"] = "AWS::Serverless-2016-10-31"
# The translator wants code in S3; where it is does not matter here.
doc.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = "s3://bucket/key"
doc = json.loads(json.dumps(doc, default=str))


class NoManagedPolicies:
    def load(self):
        return {}


os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
out = transform(doc, {}, NoManagedPolicies())

routes = {}
for resource in out["Resources"].values():
    if resource["Type"] != "AWS::ApiGatewayV2::Api":
        continue
    for p, item in resource["Properties"]["Body"]["paths"].items():
        for method, definition in item.items():
            security = definition.get("security") or [{"NONE": []}]
            (name, scopes), = security[0].items()
            if p == "/$default":
                key = "$default"
            else:
                m = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                key = m + " " + p
            routes[key] = {"authorizer": name, "scopes": scopes}
json.dump(routes, sys.stdout)
