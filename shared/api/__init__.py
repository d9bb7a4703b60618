"""HTTP handlers the Functions app wires to routes: JSON API (`http`) and the
server-rendered run-history pages (`pages`). Each takes an
`azure.functions.HttpRequest` and returns an `azure.functions.HttpResponse`."""
