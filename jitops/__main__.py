from jitops.cli import main

main()
