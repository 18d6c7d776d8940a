// etcd: the server's own entry point, etcdmain.Main, so the binary behaves as upstream's etcd.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
