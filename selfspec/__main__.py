from selfspec.cli import main

main()
