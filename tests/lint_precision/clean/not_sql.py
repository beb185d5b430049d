"""execute() and scalar() of things that are not SQL."""


async def deploy(runner, host: str, path: str):
    await runner.execute(f"rsync -a {path} {host}:/srv/app")
    await runner.execute("systemctl restart " + host)


def render(template_engine, name: str):
    return template_engine.execute(f"Hello {name}!")
