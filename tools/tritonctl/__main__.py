from tritonctl.cli import main

raise SystemExit(main())
