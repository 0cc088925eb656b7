from billing_batch.cli import main

main()
