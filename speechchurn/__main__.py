from speechchurn.cli import app

app(prog_name="speechchurn")
