from oauthcli.cli import main

raise SystemExit(main())
