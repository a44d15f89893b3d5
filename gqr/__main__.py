from gqr.cli import main

main()
