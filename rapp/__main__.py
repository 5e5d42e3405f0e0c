from rapp.cli import app

app(prog_name="rapp")
