from raymouth.evaluate.cli import main

raise SystemExit(main())
