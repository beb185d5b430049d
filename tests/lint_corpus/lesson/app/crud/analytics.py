from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

async def get_daily_revenue(db: AsyncSession, days: int = 30) -> list[dict]:
    result = await db.execute(
        text("""
            SELECT
                DATE(created_at) AS day,
                COUNT(*) AS orders,
                SUM(total_amount) AS revenue
            FROM orders
            WHERE created_at >= NOW() - INTERVAL ':days days'
                AND status = 'completed'
            GROUP BY DATE(created_at)
            ORDER BY day DESC
        """),
        {"days": days}, # Always use bound parameters — never f-strings
    )
    return [dict(row._mapping) for row in result]
