from padrewrite.cli import main

main()
