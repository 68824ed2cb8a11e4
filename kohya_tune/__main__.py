from kohya_tune.cli import main

main()
