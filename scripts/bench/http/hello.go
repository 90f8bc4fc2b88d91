// hello.go: the Go reference of the HTTP benchmarks: net/http answering
// every request with the hello-world of green.wsgi (200, Content-Type
// text/plain, Content-Length 13, Date, "Hello, World!"), keep-alive as
// net/http does by default. Standard library only. run.sh starts it with
// GOMAXPROCS=1 (one core, as greenlua's one hub). Listens on
// 127.0.0.1:PORT (argument; 0 = any free port), prints the port first.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

var body = []byte("Hello, World!")

func hello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{"13"}
	w.WriteHeader(200)
	w.Write(body)
}

func main() {
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello_go:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	err = http.Serve(ln, http.HandlerFunc(hello))
	fmt.Fprintln(os.Stderr, "hello_go:", err)
	os.Exit(1)
}
