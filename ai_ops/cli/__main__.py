from ai_ops.cli import main

main()
